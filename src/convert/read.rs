//! Reading one input: fetching, decoding and walking its records, and what the file came to.

use anyhow::Result;
use serde::Serialize;

use super::accept::{AuditVerdict, Verdict, accept, accept_audit};
use super::options::Options;
use super::pending::{Flushed, MAX_PENDING_ROWS, PendingRows};
use super::summary::{RecordCounts, Severity};
use crate::audit::rows::Located;
use crate::flatten::Provenance;
use crate::input::container::{self, Content, Item, Location};
use crate::input::{self, Input, Skip, decode};
use crate::remote::Remote;

/// A record that could not be converted, as written to `_rejected/<run>.jsonl`.
#[derive(Debug, Serialize)]
pub(super) struct Rejected<'a> {
    file: &'a str,
    #[serde(flatten)]
    location: Location,
    reason: &'a str,
    raw: &'a str,
}

/// What reading one file produced.
pub(super) struct FileResult {
    pub(super) name: String,
    /// For `--incremental`, when the file was read to the end.
    pub(super) identity: Option<input::Identity>,
    pub(super) stored_bytes: u64,
    pub(super) outcome: Outcome,
    pub(super) problem: Option<(String, Severity)>,
    pub(super) records: RecordCounts,
    pub(super) rejected: Vec<u8>,
}

pub(super) enum Outcome {
    Converted(container::Wrapping),
    Skipped(Skip),
    Failed,
}

pub(super) fn convert_file(
    input: &Input,
    opts: &Options,
    remote: Option<&Remote>,
    pending: &mut PendingRows,
    hand_over: &mut dyn FnMut(Flushed),
) -> FileResult {
    let name = input.name();
    let mut result = FileResult {
        identity: opts.write.incremental.then(|| input.identity()).flatten(),
        stored_bytes: input.stored_size(),
        name,
        outcome: Outcome::Failed,
        problem: None,
        records: RecordCounts::default(),
        rejected: Vec::new(),
    };
    if input.is_digest_path() {
        (result.outcome, result.problem) = Skip::Digest.outcome();
        return result;
    }
    // Not fetched at all when its listed size already shows it cannot fit: compressed JSON is
    // never smaller decompressed than a fraction of this size.
    if let Input::Object { size, .. } = input
        && *size > opts.limits.max_file_bytes
    {
        let limit = decode::DecodeError::TooLarge {
            limit: opts.limits.max_file_bytes,
        };
        result.problem = Some((
            format!("the object's listed size, {size} bytes, already exceeds the limit: {limit}"),
            Severity::Error,
        ));
        return result;
    }
    let reader = match input.open(remote) {
        Ok(r) => r,
        Err(e) => {
            result.problem = Some((format!("cannot open: {e}"), Severity::Error));
            return result;
        }
    };
    let mut decoded = decode::decode(reader, opts.limits.max_file_bytes);
    let converted = convert_text_of(
        &decoded.text,
        decoded.damage.is_none(),
        &result.name,
        opts,
        pending,
        hand_over,
    );
    let content = converted.content;
    result.records = converted.records;
    result.rejected = converted.rejected;

    let walked = input.walked();
    // A binary file found by a walk (an image, another tool's Parquet) is not a damaged trail
    // file: nothing readable (JSON, audit entries) before the first byte that is not text.
    if walked
        && matches!(decoded.damage, Some(decode::DecodeError::Utf8 { .. }))
        && matches!(content, Ok(Content::NotJson | Content::Empty))
    {
        (result.outcome, result.problem) = Skip::NotJson.outcome();
        return result;
    }
    (result.outcome, result.problem) = match (content, decoded.damage.take()) {
        (_, Some(damage)) => (Outcome::Failed, Some((damage.to_string(), Severity::Error))),
        (Err(e), None) => (Outcome::Failed, Some((e.to_string(), Severity::Error))),
        (Ok(Content::Trail(format)), None) => (Outcome::Converted(format), None),
        (Ok(Content::Digest), None) => Skip::Digest.outcome(),
        (Ok(Content::Empty), None) => Skip::Empty.outcome(),
        (Ok(Content::NotJson), None) if result.name.ends_with("/aws-logs-write-test") => {
            Skip::ExportWriteTest.outcome()
        }
        (Ok(Content::NotJson), None) if walked => Skip::NotJson.outcome(),
        (Ok(Content::NotJson), None) => (
            Outcome::Failed,
            Some(("not JSON".to_owned(), Severity::Error)),
        ),
    };
    result
}

impl Skip {
    /// The outcome of a file skipped for this reason, and how it is named in the problems.
    pub(super) fn outcome(self) -> (Outcome, Option<(String, Severity)>) {
        let severity = match self {
            // Expected by the thousand in a real archive.
            Skip::Digest | Skip::OtherLogs(_) | Skip::ExportWriteTest => Severity::Skipped,
            Skip::Empty | Skip::NotJson => Severity::Warning,
        };
        let reason = format!("skipped: {}", self.describe());
        (Outcome::Skipped(self), Some((reason, severity)))
    }
}

/// What one decoded file's text turned into (its kept rows went to the worker's
/// [`PendingRows`]).
pub struct TextConversion {
    /// What the text held, or why it could not be read to the end.
    pub content: Result<Content, container::ContainerError>,
    /// Record counts; `duplicates` is always 0 here (found when partitions are written).
    pub records: RecordCounts,
    /// Rejected records as JSON Lines for `_rejected/`.
    pub rejected: Vec<u8>,
}

/// Finds, filters and flattens the records of one decoded file into `pending`. `name` is what
/// the `source_file` column and error messages call it. Rows go to `hand_over` whenever the
/// worker holds `MAX_PENDING_ROWS`, within the file too: a large file of small records
/// (a million tiny ones compress into a few hundred KB) never piles up in one worker, and
/// `--memory-budget` sees its rows as they come.
pub fn convert_text(
    text: &str,
    name: &str,
    opts: &Options,
    pending: &mut PendingRows,
    hand_over: &mut dyn FnMut(Flushed),
) -> TextConversion {
    convert_text_of(text, true, name, opts, pending, hand_over)
}

/// [`convert_text`] of a text that is `complete`, or cut short by damage (see
/// [`container::read_items_of`]).
pub fn convert_text_of(
    text: &str,
    complete: bool,
    name: &str,
    opts: &Options,
    pending: &mut PendingRows,
    hand_over: &mut dyn FnMut(Flushed),
) -> TextConversion {
    let prefilter = opts.filter.sources.prefilter();
    let prefilter = prefilter.over(text);
    let mut records = RecordCounts::default();
    let mut rejected = Vec::new();
    let source = Provenance {
        file: name,
        verified: opts.verified.as_ref().map(|v| v.of(name)),
    };
    let mut sink = |item: Item<'_>, location: Location| {
        records.read += 1;
        let verdict = match item {
            Item::Record {
                text,
                unicode_escape,
            } => accept(text, unicode_escape, opts, &prefilter),
            Item::Invalid { raw, reason } => Verdict::Reject(raw.to_owned().into(), reason),
            Item::OtherLog => Verdict::Filter,
            Item::AuditEntry { message, delivery } => {
                match accept_audit(message, &delivery, name, opts) {
                    AuditVerdict::Keep(keep) => {
                        pending.push_audit(
                            &keep.partition,
                            &Located {
                                entry: &keep.entry,
                                message,
                                delivery: &delivery,
                                origin: &keep.origin,
                                source_file: name,
                                entry_id: &keep.entry_id,
                            },
                        );
                        records.audit_entries += 1;
                        Verdict::Kept
                    }
                    AuditVerdict::Filter => Verdict::Filter,
                    AuditVerdict::Reject(reason) => Verdict::Reject(message.into(), reason),
                }
            }
        };
        match verdict {
            Verdict::Keep(prepared, partition) => {
                records.kept += 1;
                pending.push(partition, &prepared, &source);
            }
            Verdict::Kept => records.kept += 1,
            Verdict::Filter => records.filtered += 1,
            Verdict::Reject(raw, reason) => {
                records.rejected += 1;
                let line = Rejected {
                    file: name,
                    location,
                    reason: &reason,
                    raw: &raw,
                };
                serde_json::to_writer(&mut rejected, &line).expect("writing to memory");
                rejected.push(b'\n');
            }
        }
        if pending.rows >= MAX_PENDING_ROWS {
            hand_over(pending.take_full());
        }
    };
    let content = container::read_items_of(text, complete, &mut sink);
    TextConversion {
        content,
        records,
        rejected,
    }
}
