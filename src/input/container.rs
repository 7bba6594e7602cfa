//! Finding the CloudTrail records inside a decoded file, whatever wrapper they come in.
//!
//! The format is detected from the content, never from the file name: a delivery file
//! `{"Records":[...]}`, JSON Lines, a JSON array, one bare record, `aws cloudtrail lookup-events`
//! output (and its items as JSON Lines), EventBridge envelopes and CloudWatch Logs subscription
//! payloads. A single top-level object is parsed in one streaming pass, so the records that
//! parsed before a point of damage (a truncated download, a bad byte) are still delivered.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::structural;
use crate::audit::entry::{looks_like_entry, starts_entry};
use crate::audit::rows::Delivery;
use crate::record::{CowStr, RawRecord, raw_str};

/// Where a record sits in its file, for error messages and the rejected-records file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    /// 0-based position among the items of the file.
    pub index: usize,
    /// 1-based line, for line-oriented files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}"),
            None => write!(f, "record index {}", self.index),
        }
    }
}

/// One item found in a file: a record's JSON text, or something in a record's place that could
/// not be read as one.
#[derive(Debug)]
pub enum Item<'a> {
    Record {
        text: &'a str,
        /// False only when the reader saw that `text` holds no `\u` escape (the delivery-file
        /// scan does), so that the source pre-filter need not look for one.
        unicode_escape: bool,
    },
    Invalid {
        raw: &'a str,
        reason: String,
    },
    /// A CloudHSM audit log entry (the text of one CloudWatch Logs event) and what its
    /// delivery says about it.
    AuditEntry {
        message: &'a str,
        delivery: Delivery<'a>,
    },
    /// An event of another log group than CloudHSM's, neither a record nor an audit entry (a
    /// Firehose stream shared with other logs): left out.
    OtherLog,
}

/// The wrapper a file's records came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Wrapping {
    /// `{"Records":[...]}`, the S3 delivery format.
    Records,
    /// One JSON value a line.
    JsonLines,
    /// A JSON array of records or wrappers.
    Array,
    /// One bare record.
    Record,
    /// `aws cloudtrail lookup-events` output or one of its items.
    Lookup,
    /// An EventBridge "AWS API Call via CloudTrail" envelope.
    EventBridge,
    /// A CloudWatch Logs subscription payload (CloudTrail records or HSM audit entries).
    CloudwatchLogs,
    /// `aws logs filter-log-events`/`get-log-events` output, or its events as JSON Lines.
    LogEvents,
    /// A CloudWatch Logs export to S3 (`CreateExportTask`): `<time> <message>` lines.
    LogExport,
    /// HSM audit entries as plain text, one `Time: ...` entry after another.
    AuditText,
}

impl Wrapping {
    pub fn name(self) -> &'static str {
        match self {
            Wrapping::Records => "records",
            Wrapping::JsonLines => "json-lines",
            Wrapping::Array => "array",
            Wrapping::Record => "record",
            Wrapping::Lookup => "lookup",
            Wrapping::EventBridge => "eventbridge",
            Wrapping::CloudwatchLogs => "cloudwatch-logs",
            Wrapping::LogEvents => "log-events",
            Wrapping::LogExport => "log-export",
            Wrapping::AuditText => "audit-text",
        }
    }
}

/// What a file turned out to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// CloudTrail records in this wrapper.
    Trail(Wrapping),
    /// A CloudTrail digest file: no records, skipped.
    Digest,
    /// Nothing but white space.
    Empty,
    /// Not JSON at all (the first byte is not `{` or `[`).
    NotJson,
}

/// Why a file could not be read (completely).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContainerError {
    #[error("invalid JSON at line {line} column {column}: {message} (after {items} items)")]
    Damaged {
        line: usize,
        column: usize,
        message: String,
        items: usize,
    },
    #[error("wrong shape at line {line} column {column}: {message} (after {items} items)")]
    WrongShape {
        line: usize,
        column: usize,
        message: String,
        items: usize,
    },
    #[error("unrecognised JSON: {0}")]
    Unrecognised(String),
}

/// Streams every item of `text` to `sink` and says what the file held. Items delivered before
/// an error are valid and should be kept.
pub fn read_items(
    text: &str,
    sink: &mut dyn FnMut(Item<'_>, Location),
) -> Result<Content, ContainerError> {
    read_items_of(text, true, sink)
}

/// [`read_items`] of a text that is `complete` or was cut short (a damaged file's text up to
/// the damage): a text entry running to the end of a cut text is incomplete and rejected.
/// (JSON is cut where its damage is.)
pub fn read_items_of(
    text: &str,
    complete: bool,
    sink: &mut dyn FnMut(Item<'_>, Location),
) -> Result<Content, ContainerError> {
    let trimmed = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    let offset = text.len() - trimmed.len();
    match trimmed.as_bytes().first() {
        None => return Ok(Content::Empty),
        Some(b'{') | Some(b'[') => {}
        Some(_) => {
            return Ok(audit_text(trimmed, line_of(text, offset), complete, sink)
                .unwrap_or(Content::NotJson));
        }
    }
    let mut walker = Walker::new(sink);
    if let Some(elements) = structural::split_records(trimmed.as_bytes()) {
        for element in elements {
            walker.emit(Item::Record {
                text: &trimmed[element.span],
                unicode_escape: element.unicode_escape,
            });
        }
        return walker.finish(ValueKind::Trail(Wrapping::Records));
    }
    let mut de = serde_json::Deserializer::from_str(trimmed);
    let first = TopSeed {
        walker: &mut walker,
    }
    .deserialize(&mut de);
    let kind = match first {
        Ok(kind) => kind,
        Err(e) => return Err(walker.damaged(&e, text, offset)),
    };
    if de.end().is_ok() {
        return walker.finish(kind);
    }
    // More than one top-level value: JSON Lines (or concatenated JSON), or subscription
    // payloads one after another as Firehose writes them.
    walker.only_subscriptions = kind == ValueKind::Trail(Wrapping::CloudwatchLogs);
    walker.read_more_values(trimmed, text, offset)?;
    let kind = match walker.only_subscriptions {
        true => Wrapping::CloudwatchLogs,
        false => Wrapping::JsonLines,
    };
    walker.finish(ValueKind::Trail(kind))
}

/// What one top-level value was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueKind {
    Trail(Wrapping),
    Digest,
    Unrecognised,
}

struct Walker<'s> {
    sink: &'s mut dyn FnMut(Item<'_>, Location),
    items: usize,
    records: usize,
    digests: usize,
    /// Values that are neither records nor wrappers, held until we know whether the file has
    /// any records at all (then they are invalid items) or none (then the file is unrecognised).
    unrecognised: Vec<(String, Location)>,
    unrecognised_keys: Option<String>,
    line: Option<usize>,
    /// The subscription payload whose `logEvents` are being read.
    envelope: Envelope,
    /// Whether every value so far was a subscription payload.
    only_subscriptions: bool,
}

/// Keys that make an object a CloudTrail record (whatever else it holds).
const RECORD_KEYS: [&str; 6] = [
    "eventTime",
    "eventVersion",
    "eventSource",
    "eventName",
    "eventID",
    "userIdentity",
];

/// What a CloudWatch Logs subscription payload says around its events.
#[derive(Debug, Default)]
struct Envelope {
    group: Option<String>,
    stream: Option<String>,
    owner: Option<String>,
    /// CloudWatch Logs' own `CONTROL_MESSAGE` (a health check of the destination): no events.
    control: bool,
}

impl Envelope {
    fn of<'a>(fields: impl IntoIterator<Item = (&'a str, &'a RawValue)>) -> Envelope {
        let mut envelope = Envelope::default();
        for (key, value) in fields {
            let text = || raw_str(value).ok().flatten().map(|t| t.into_owned());
            match key {
                "logGroup" => envelope.group = text(),
                "logStream" => envelope.stream = text(),
                "owner" => envelope.owner = text(),
                "messageType" => envelope.control = text().as_deref() == Some("CONTROL_MESSAGE"),
                _ => {}
            }
        }
        envelope
    }

    fn holds_audit_logs(&self) -> bool {
        self.group
            .as_deref()
            .is_some_and(|g| g.starts_with("/aws/cloudhsm/"))
    }

    /// A payload of another named log group (a Firehose stream shared with other logs).
    fn holds_other_logs(&self) -> bool {
        self.group
            .as_deref()
            .is_some_and(|g| !g.is_empty() && !g.starts_with("/aws/cloudhsm/"))
    }
}

impl<'s> Walker<'s> {
    fn new(sink: &'s mut dyn FnMut(Item<'_>, Location)) -> Self {
        Walker {
            sink,
            items: 0,
            records: 0,
            digests: 0,
            unrecognised: Vec::new(),
            unrecognised_keys: None,
            line: None,
            envelope: Envelope::default(),
            only_subscriptions: false,
        }
    }

    fn location(&self) -> Location {
        Location {
            index: self.items,
            line: self.line,
        }
    }

    fn emit(&mut self, item: Item<'_>) {
        let loc = self.location();
        if matches!(item, Item::Record { .. } | Item::AuditEntry { .. }) {
            self.records += 1;
        }
        (self.sink)(item, loc);
        self.items += 1;
    }

    fn emit_record_text(&mut self, raw: &str) {
        self.emit(Item::Record {
            text: raw,
            unicode_escape: true,
        });
    }

    /// A JSON string that holds a record (lookup-events, CloudWatch Logs).
    fn emit_embedded(&mut self, raw: &RawValue, what: &str) {
        match serde_json::from_str::<String>(raw.get()) {
            Ok(inner) => self.emit(Item::Record {
                text: &inner,
                unicode_escape: true,
            }),
            Err(_) => self.emit(Item::Invalid {
                raw: raw.get(),
                reason: format!("{what} is not a JSON string"),
            }),
        }
    }

    fn hold_unrecognised(&mut self, raw: &str, keys: String) {
        let loc = self.location();
        self.unrecognised.push((raw.to_owned(), loc));
        self.unrecognised_keys.get_or_insert(keys);
        self.items += 1;
    }

    /// Classifies one value already split into its top-level keys, streaming what it holds.
    fn object(&mut self, obj: &RawRecord<'_>, raw: Option<&str>) -> ValueKind {
        if let Some(records) = obj.get("Records") {
            return self.array_of(records, Wrapping::Records, |w, item| {
                w.emit_record_text(item.get())
            });
        }
        if let Some(events) = obj.get("Events") {
            return self.array_of(events, Wrapping::Lookup, |w, item| w.lookup_item(item));
        }
        if let Some(log_events) = obj.get("logEvents") {
            self.envelope = Envelope::of(obj.fields.iter().map(|(k, v)| (k.as_ref(), *v)));
            let kind = self.array_of(log_events, Wrapping::CloudwatchLogs, |w, item| {
                w.log_event(item)
            });
            self.envelope = Envelope::default();
            return kind;
        }
        if let Some(events) = obj.get("events")
            && !RECORD_KEYS.iter().any(|k| obj.get(k).is_some())
        {
            return self.array_of(events, Wrapping::LogEvents, |w, item| w.log_event(item));
        }
        self.single_object(obj, raw)
    }

    /// An object that is not a list wrapper: a record, an envelope, a lookup item or a digest.
    fn single_object(&mut self, obj: &RawRecord<'_>, raw: Option<&str>) -> ValueKind {
        if obj.get("digestStartTime").is_some() || obj.get("logFiles").is_some() {
            self.digests += 1;
            return ValueKind::Digest;
        }
        if let (Some(_), Some(detail)) = (obj.get("detail-type"), obj.get("detail")) {
            self.emit_record_text(detail.get());
            return ValueKind::Trail(Wrapping::EventBridge);
        }
        if let Some(inner) = obj.get("CloudTrailEvent") {
            self.emit_embedded(inner, "CloudTrailEvent");
            return ValueKind::Trail(Wrapping::Lookup);
        }
        if RECORD_KEYS.iter().any(|k| obj.get(k).is_some()) {
            match raw {
                Some(raw) => self.emit_record_text(raw),
                // The top-level object was split while streaming; rebuild its text.
                None => {
                    let text = rebuild_object(obj);
                    self.emit_record_text(&text);
                }
            }
            return ValueKind::Trail(Wrapping::Record);
        }
        // One event of `filter-log-events` output, as a line of JSON Lines.
        if obj.get("message").is_some()
            && ["timestamp", "ingestionTime", "logStreamName", "eventId"]
                .iter()
                .any(|k| obj.get(k).is_some())
        {
            let text = raw
                .map(Cow::Borrowed)
                .unwrap_or_else(|| Cow::Owned(rebuild_object(obj)));
            let raw = serde_json::from_str::<&RawValue>(&text).expect("an object's own text");
            self.log_event(raw);
            return ValueKind::Trail(Wrapping::LogEvents);
        }
        let keys: Vec<&str> = obj.fields.iter().map(|(k, _)| k.as_ref()).take(8).collect();
        let text = raw
            .map(str::to_owned)
            .unwrap_or_else(|| rebuild_object(obj));
        self.hold_unrecognised(
            &text,
            format!("an object with keys {keys:?} is not a CloudTrail record or a known wrapper"),
        );
        ValueKind::Unrecognised
    }

    fn array_of(
        &mut self,
        raw: &RawValue,
        format: Wrapping,
        mut each: impl FnMut(&mut Self, &RawValue),
    ) -> ValueKind {
        match serde_json::from_str::<Vec<&RawValue>>(raw.get()) {
            Ok(items) => {
                for item in items {
                    each(self, item);
                }
                ValueKind::Trail(format)
            }
            Err(_) => {
                self.hold_unrecognised(
                    raw.get(),
                    format!("the {} wrapper does not hold an array", format.name()),
                );
                ValueKind::Unrecognised
            }
        }
    }

    fn lookup_item(&mut self, item: &RawValue) {
        self.embedded_in(
            item,
            ("CloudTrailEvent", "CloudTrailEvent"),
            "lookup-events item without a CloudTrailEvent string",
        );
    }

    /// One CloudWatch Logs event: a CloudTrail record (a trail delivered to CloudWatch Logs:
    /// a JSON object outside `/aws/cloudhsm/` log groups), else an HSM audit entry.
    fn log_event(&mut self, item: &RawValue) {
        if self.envelope.control {
            return;
        }
        let event = RawRecord::parse(item.get()).ok();
        let message = event
            .as_ref()
            .and_then(|e| e.get("message"))
            .and_then(|m| raw_str(m).ok().flatten());
        let (Some(event), Some(message)) = (event, message) else {
            self.emit(Item::Invalid {
                raw: item.get(),
                reason: "CloudWatch Logs event without a message string".into(),
            });
            return;
        };
        if !self.envelope.holds_audit_logs() && !looks_like_entry(&message) {
            if message.trim_start().starts_with('{') {
                self.emit(Item::Record {
                    text: &message,
                    unicode_escape: true,
                });
                return;
            }
            if self.envelope.holds_other_logs() {
                self.emit(Item::OtherLog);
                return;
            }
        }
        let text = |key: &str| event.get(key).and_then(|v| raw_str(v).ok().flatten());
        let number = |key: &str| event.get(key).and_then(|v| v.get().parse::<i64>().ok());
        let envelope = &self.envelope;
        let delivery = Delivery {
            log_group: envelope.group.clone().map(Cow::Owned),
            log_stream: text("logStreamName").or_else(|| envelope.stream.clone().map(Cow::Owned)),
            account: envelope.owner.clone().map(Cow::Owned),
            cloudwatch_ms: number("timestamp"),
            ingestion_ms: number("ingestionTime"),
            event_id: text("id").or_else(|| text("eventId")),
        };
        self.emit(Item::AuditEntry {
            message: &message,
            delivery,
        });
    }

    /// The record held as a JSON string in the field `field` (named `what` in messages) of
    /// the object `item`.
    fn embedded_in(&mut self, item: &RawValue, (field, what): (&str, &str), missing: &str) {
        match RawRecord::parse(item.get()).ok().and_then(|o| o.get(field)) {
            Some(inner) => self.emit_embedded(inner, what),
            None => self.emit(Item::Invalid {
                raw: item.get(),
                reason: missing.into(),
            }),
        }
    }

    /// One value of an array or a line: classify it from its text.
    fn value(&mut self, raw: &str) -> ValueKind {
        match RawRecord::parse(raw) {
            Ok(obj) => {
                let kind = self.object(&obj, Some(raw));
                self.only_subscriptions &= kind == ValueKind::Trail(Wrapping::CloudwatchLogs);
                kind
            }
            Err(_) => {
                self.emit(Item::Invalid {
                    raw,
                    reason: "not a JSON object".into(),
                });
                ValueKind::Trail(Wrapping::Array)
            }
        }
    }

    /// Values after the first in a multi-value file.
    fn read_more_values(
        &mut self,
        trimmed: &str,
        text: &str,
        offset: usize,
    ) -> Result<(), ContainerError> {
        let first_line_end = trimmed.find('\n').unwrap_or(trimmed.len());
        let one_per_line = serde_json::from_str::<&RawValue>(&trimmed[..first_line_end]).is_ok();
        if one_per_line {
            let base_line = line_of(text, offset);
            for (n, line) in trimmed.split('\n').enumerate().skip(1) {
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                self.line = Some(base_line + n);
                match serde_json::from_str::<&RawValue>(line) {
                    Ok(raw) => {
                        self.value(raw.get());
                    }
                    Err(e) => self.emit(Item::Invalid {
                        raw: line,
                        reason: format!("invalid JSON: {e}"),
                    }),
                }
            }
            return Ok(());
        }
        // Pretty-printed values one after another: stream them; stop at the first damage.
        let mut stream = serde_json::Deserializer::from_str(trimmed).into_iter::<&RawValue>();
        stream.next();
        for value in stream {
            match value {
                Ok(raw) => {
                    self.value(raw.get());
                }
                Err(e) => return Err(self.damaged(&e, text, offset)),
            }
        }
        Ok(())
    }

    /// Values held as not being records are invalid items of a file that holds records: they
    /// go to the sink (and so to the rejected records) before the file ends, or is damaged.
    fn release_unrecognised(&mut self) {
        if self.records == 0 {
            return;
        }
        for (raw, loc) in std::mem::take(&mut self.unrecognised) {
            (self.sink)(
                Item::Invalid {
                    raw: &raw,
                    reason: "not a CloudTrail record".into(),
                },
                loc,
            );
        }
    }

    /// The error for damage at `e`, after releasing what was read before it: the items
    /// before the damage are kept or rejected like those of an undamaged file.
    fn damaged(&mut self, e: &serde_json::Error, text: &str, offset: usize) -> ContainerError {
        self.release_unrecognised();
        let line = e.line() + line_of(text, offset) - 1;
        let column = e.column();
        let message = strip_position(&e.to_string());
        let items = self.items;
        if e.is_data() {
            ContainerError::WrongShape {
                line,
                column,
                message,
                items,
            }
        } else {
            ContainerError::Damaged {
                line,
                column,
                message,
                items,
            }
        }
    }

    fn finish(mut self, kind: ValueKind) -> Result<Content, ContainerError> {
        if self.records == 0 && !self.unrecognised.is_empty() {
            return Err(ContainerError::Unrecognised(
                self.unrecognised_keys.unwrap_or_default(),
            ));
        }
        self.release_unrecognised();
        Ok(match kind {
            ValueKind::Digest if self.records == 0 => Content::Digest,
            ValueKind::Trail(format) => Content::Trail(format),
            _ => Content::Trail(Wrapping::JsonLines),
        })
    }
}

/// HSM audit entries in plain text: a CloudWatch Logs export (`<time>Z <message>`, the
/// message's own lines following its first), or bare messages one after another (each starting
/// `Time:`). `None` when the text is neither. Entries are split where the next one starts, so
/// that a multi-line message stays whole.
fn audit_text(
    text: &str,
    first_line: usize,
    complete: bool,
    sink: &mut dyn FnMut(Item<'_>, Location),
) -> Option<Content> {
    let first = text.split('\n').next().unwrap_or("");
    let (format, starts): (Wrapping, EntryStart) = if export_line(first).is_some() {
        (Wrapping::LogExport, export_line)
    } else if starts_entry(first) {
        (Wrapping::AuditText, |line| {
            looks_like_entry(line).then_some((None, 0))
        })
    } else {
        return None;
    };
    // (line number, byte offset of the line, of the message in it, CloudWatch time)
    let mut entries: Vec<(usize, usize, usize, Option<i64>)> = Vec::new();
    let mut offset = 0;
    for (n, line) in text.split('\n').enumerate() {
        if let Some((time, skip)) = starts(line) {
            entries.push((first_line + n, offset, skip, time));
        }
        offset += line.len() + 1;
    }
    for (index, &(line, line_start, skip, time)) in entries.iter().enumerate() {
        let end = entries.get(index + 1).map_or(text.len(), |next| next.1);
        let message = text[line_start + skip..end].trim_end();
        let location = Location {
            index,
            line: Some(line),
        };
        let item = if !complete && index + 1 == entries.len() {
            Item::Invalid {
                raw: message,
                reason:
                    "the file is damaged inside this entry, its last: its text may be cut short"
                        .into(),
            }
        } else if message.starts_with('{') && !looks_like_entry(message) {
            // A CloudTrail trail's log group exported.
            Item::Record {
                text: message,
                unicode_escape: true,
            }
        } else {
            Item::AuditEntry {
                message,
                delivery: Delivery {
                    cloudwatch_ms: time,
                    ..Delivery::default()
                },
            }
        };
        sink(item, location);
    }
    Some(Content::Trail(format))
}

/// Whether a line starts an entry: its CloudWatch time, if the line gives one, and where the
/// message starts in it.
type EntryStart = fn(&str) -> Option<(Option<i64>, usize)>;

/// A line of a CloudWatch Logs export that starts an event: its time
/// (`2024-03-05T14:20:11.482Z`) and where the message after it starts, an HSM audit entry
/// (`Time: ...`) or a JSON object (a certificate-storage entry, a CloudTrail record). A line of a
/// message that merely starts with a time does not start an event.
fn export_line(line: &str) -> Option<(Option<i64>, usize)> {
    let (stamp, message) = line.split_once(' ')?;
    let message = message.trim_start();
    if !(message.starts_with("Time") || message.starts_with('{')) {
        return None;
    }
    if !stamp.ends_with('Z') || !stamp.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let ms = crate::time::parse_event_time(stamp)?;
    Some((Some(ms), stamp.len() + 1))
}

/// 1-based line number of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    memchr::memchr_iter(b'\n', &text.as_bytes()[..offset]).count() + 1
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Text of an object whose keys were captured one by one (used only for the rare bare record or
/// envelope at the top of a file).
fn rebuild_object(obj: &RawRecord<'_>) -> String {
    crate::record::object_text(obj.fields.iter().map(|(k, v)| (k.as_ref(), *v)))
}

/// The first top-level value: objects are split key by key, and the big arrays (`Records`,
/// `Events`, `logEvents`) are streamed element by element instead of being captured whole.
struct TopSeed<'w, 's> {
    walker: &'w mut Walker<'s>,
}

impl<'de> DeserializeSeed<'de> for TopSeed<'_, '_> {
    type Value = ValueKind;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ValueKind, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_, '_> {
    type Value = ValueKind;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object or array")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ValueKind, A::Error> {
        let mut fields: Vec<(Cow<'de, str>, &'de RawValue)> = Vec::new();
        let mut streamed = None;
        while let Some(CowStr(key)) = map.next_key::<CowStr<'de>>()? {
            let seen = |names: &[&str]| fields.iter().any(|(k, _)| names.contains(&k.as_ref()));
            let format = match key.as_ref() {
                "Records" => Some(Wrapping::Records),
                "Events" => Some(Wrapping::Lookup),
                // Streamed when the payload has named its group and stream before its events, as
                // CloudWatch Logs writes it; otherwise read whole, once every key is known.
                "logEvents" if seen(&["logGroup"]) && seen(&["logStream"]) => {
                    Some(Wrapping::CloudwatchLogs)
                }
                "events" if !seen(&RECORD_KEYS) => Some(Wrapping::LogEvents),
                _ => None,
            };
            match format {
                Some(format) if streamed.is_none() => {
                    // A subscription payload names its group and stream before its events.
                    self.walker.envelope = Envelope::of(
                        fields
                            .iter()
                            .map(|(k, v): &(Cow<'de, str>, &RawValue)| (k.as_ref(), *v)),
                    );
                    map.next_value_seed(StreamSeed {
                        walker: self.walker,
                        format,
                    })?;
                    self.walker.envelope = Envelope::default();
                    streamed = Some(format);
                }
                _ => fields.push((key, map.next_value::<&'de RawValue>()?)),
            }
        }
        match streamed {
            Some(format) => Ok(ValueKind::Trail(format)),
            None => Ok(self.walker.object(&RawRecord { fields }, None)),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ValueKind, A::Error> {
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            self.walker.value(raw.get());
        }
        Ok(ValueKind::Trail(Wrapping::Array))
    }
}

/// Streams the elements of a wrapper's array to the walker as they are parsed.
struct StreamSeed<'w, 's> {
    walker: &'w mut Walker<'s>,
    format: Wrapping,
}

impl<'de> DeserializeSeed<'de> for StreamSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for StreamSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a JSON array of {} items", self.format.name())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            match self.format {
                Wrapping::Lookup => self.walker.lookup_item(raw),
                Wrapping::CloudwatchLogs | Wrapping::LogEvents => self.walker.log_event(raw),
                _ => self.walker.emit_record_text(raw.get()),
            }
        }
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(format!(
            "wrong top-level shape: the {} wrapper is null",
            self.format.name()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(text: &str) -> (Result<Content, ContainerError>, Vec<String>) {
        let mut items = Vec::new();
        let result = read_items(text, &mut |item, loc| {
            items.push(match item {
                Item::Record { text, .. } => format!("R{}:{}", loc.index, text),
                Item::Invalid { reason, .. } => format!("I{loc}:{reason}"),
                Item::AuditEntry { message, delivery } => format!(
                    "A{loc}:{}|{}|{}|{:?}",
                    message,
                    delivery.log_group.as_deref().unwrap_or("-"),
                    delivery.log_stream.as_deref().unwrap_or("-"),
                    delivery.cloudwatch_ms
                ),
                Item::OtherLog => format!("O{loc}"),
            })
        });
        (result, items)
    }

    /// Found by the `records` fuzz target: a value that is not a record, read before the
    /// damage in a file that holds records, was dropped instead of rejected.
    #[test]
    fn values_before_damage_are_rejected_not_dropped() {
        let (r, items) = collect(r#"[{"eventTime":"a"},{"foo":1},{"eventTime":"b"},{"x"#);
        assert!(
            matches!(r, Err(ContainerError::Damaged { items: 3, .. })),
            "{r:?}"
        );
        assert_eq!(
            items,
            [
                r#"R0:{"eventTime":"a"}"#,
                r#"R2:{"eventTime":"b"}"#,
                "Irecord index 1:not a CloudTrail record",
            ]
        );
    }

    #[test]
    fn delivery_file() {
        let (r, items) = collect(r#"{"Records":[{"eventTime":"t"},{"eventTime":"u"}]}"#);
        assert_eq!(r, Ok(Content::Trail(Wrapping::Records)));
        assert_eq!(
            items,
            [r#"R0:{"eventTime":"t"}"#, r#"R1:{"eventTime":"u"}"#]
        );
    }

    #[test]
    fn truncated_delivery_keeps_complete_records() {
        let (r, items) = collect(r#"{"Records":[{"eventTime":"t"},{"eventTime":"u"#);
        assert_eq!(items, [r#"R0:{"eventTime":"t"}"#]);
        match r {
            Err(ContainerError::Damaged { items, line, .. }) => {
                assert_eq!(items, 1);
                assert_eq!(line, 1);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn json_lines_of_records_and_wrappers() {
        let text = "{\"eventTime\":\"a\"}\n\n{\"detail-type\":\"AWS API Call via CloudTrail\",\"detail\":{\"eventTime\":\"b\"}}\nnot json\n{\"EventId\":\"x\",\"CloudTrailEvent\":\"{\\\"eventTime\\\":\\\"c\\\"}\"}\n";
        let (r, items) = collect(text);
        assert_eq!(r, Ok(Content::Trail(Wrapping::JsonLines)));
        assert_eq!(items.len(), 4);
        assert_eq!(items[0], r#"R0:{"eventTime":"a"}"#);
        assert_eq!(items[1], r#"R1:{"eventTime":"b"}"#);
        assert!(items[2].starts_with("Iline 4:invalid JSON"), "{}", items[2]);
        assert_eq!(items[3], r#"R3:{"eventTime":"c"}"#);
    }

    #[test]
    fn lookup_and_cloudwatch_and_array() {
        let (r, items) =
            collect(r#"{"Events":[{"CloudTrailEvent":"{\"eventName\":\"X\"}"}],"NextToken":"n"}"#);
        assert_eq!(r, Ok(Content::Trail(Wrapping::Lookup)));
        assert_eq!(items, [r#"R0:{"eventName":"X"}"#]);
        let (r, items) = collect(
            r#"{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","message":"{\"eventName\":\"Y\"}"}]}"#,
        );
        assert_eq!(r, Ok(Content::Trail(Wrapping::CloudwatchLogs)));
        assert_eq!(items, [r#"R0:{"eventName":"Y"}"#]);
        let (r, items) = collect(r#"[{"eventName":"Z"}, 5]"#);
        assert_eq!(r, Ok(Content::Trail(Wrapping::Array)));
        assert_eq!(items[0], r#"R0:{"eventName":"Z"}"#);
        assert!(items[1].starts_with("Irecord index 1:not a JSON object"));
    }

    #[test]
    fn skips_and_refusals() {
        assert_eq!(collect("  \n").0, Ok(Content::Empty));
        assert_eq!(collect("PAR1....").0, Ok(Content::NotJson));
        assert_eq!(
            collect(r#"{"awsAccountId":"1","digestStartTime":"x","logFiles":[]}"#).0,
            Ok(Content::Digest)
        );
        assert!(matches!(
            collect(r#"{"Type":"Notification","Message":"x"}"#).0,
            Err(ContainerError::Unrecognised(_))
        ));
        assert!(matches!(
            collect(r#"[{"data":{"Records":[]}}]"#).0,
            Err(ContainerError::Unrecognised(_))
        ));
        assert!(matches!(
            collect(r#"{"Records":5}"#).0,
            Err(ContainerError::WrongShape { .. })
        ));
    }

    #[test]
    fn bare_record_is_delivered_whole() {
        let (r, items) = collect(r#"{"eventVersion":"1.08","eventTime":"t","x":{"y":1}}"#);
        assert_eq!(r, Ok(Content::Trail(Wrapping::Record)));
        assert_eq!(
            items,
            [r#"R0:{"eventVersion":"1.08","eventTime":"t","x":{"y":1}}"#]
        );
    }

    #[test]
    fn delivery_file_with_a_bad_record_keeps_the_others() {
        // Balanced but invalid: the fast split hands it on, and the record alone is refused
        // later; the records after it are not lost.
        let (r, items) = collect(r#"{"Records":[{"a":1},{"b":tru},{"c":3}]}"#);
        assert_eq!(r, Ok(Content::Trail(Wrapping::Records)));
        assert_eq!(items, [r#"R0:{"a":1}"#, r#"R1:{"b":tru}"#, r#"R2:{"c":3}"#]);
        // A string in the array is not a record: the careful parse names it.
        let (r, items) = collect(r#"{"Records":[{"a":1},"x"]}"#);
        assert_eq!(r, Ok(Content::Trail(Wrapping::Records)));
        assert_eq!(items, [r#"R0:{"a":1}"#, r#"R1:"x""#]);
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        // serde_json skips nested values iteratively; the element is handed on (and later
        // rejected as "not an object") instead of recursing 100,000 levels deep.
        let text = format!(
            "{{\"Records\":[{}{}]}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let (r, items) = collect(&text);
        assert_eq!(r, Ok(Content::Trail(Wrapping::Records)));
        assert_eq!(items.len(), 1);
    }

    const ENTRY: &str = "Time: 03/05/24 14:21:02.310478, usecs:1709648462310478\nSequence No: 0x1e\nOpcode: CN_LOGIN (0xd)";

    #[test]
    fn subscription_payloads_of_cloudhsm_log_groups_hold_audit_entries() {
        let message = serde_json::to_string(ENTRY).unwrap();
        let payload = format!(
            r#"{{"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":"/aws/cloudhsm/cluster-jd3b5xkz7pq","logStream":"hsm-q3vb7ydxm2k","subscriptionFilters":["f"],"logEvents":[{{"id":"1","timestamp":1709648462310,"message":{message}}}]}}"#
        );
        let control = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#;
        // As Firehose delivers them: payloads one after another, no delimiter.
        let (r, items) = collect(&format!("{control}{payload}{payload}"));
        assert_eq!(r, Ok(Content::Trail(Wrapping::CloudwatchLogs)));
        let expected = format!(
            "Arecord index 0:{ENTRY}|/aws/cloudhsm/cluster-jd3b5xkz7pq|hsm-q3vb7ydxm2k|Some(1709648462310)"
        );
        assert_eq!(
            items,
            [expected.clone(), expected.replace("index 0", "index 1")]
        );
        // Streamed at the top of a file too.
        let (r, items) = collect(&payload);
        assert_eq!(r, Ok(Content::Trail(Wrapping::CloudwatchLogs)));
        assert_eq!(items, [expected]);
    }

    #[test]
    fn log_events_output_holds_audit_entries_or_records() {
        let message = serde_json::to_string(ENTRY).unwrap();
        let output = format!(
            r#"{{"events":[{{"logStreamName":"hsm-q3vb7ydxm2k","timestamp":5,"message":{message},"ingestionTime":6,"eventId":"9"}},{{"timestamp":7,"message":"{{\"eventTime\":\"t\"}}"}}],"searchedLogStreams":[]}}"#
        );
        let (r, items) = collect(&output);
        assert_eq!(r, Ok(Content::Trail(Wrapping::LogEvents)));
        assert_eq!(
            items,
            [
                format!("Arecord index 0:{ENTRY}|-|hsm-q3vb7ydxm2k|Some(5)"),
                r#"R1:{"eventTime":"t"}"#.to_owned()
            ]
        );
        let line =
            format!(r#"{{"logStreamName":"hsm-q3vb7ydxm2k","timestamp":5,"message":{message}}}"#);
        let (r, items) = collect(&format!("{line}\n{line}\n"));
        assert_eq!(r, Ok(Content::Trail(Wrapping::JsonLines)));
        assert_eq!(items.len(), 2);
        assert!(items[1].starts_with("Aline 2:Time:"), "{items:?}");
    }

    #[test]
    fn exports_and_bare_messages_split_where_the_next_entry_starts() {
        let export = format!(
            "2024-03-05T14:21:02.310Z {ENTRY}\n2024-03-05T14:21:02.400Z a line of the message\n\n2024-03-05T14:20:02.000Z {{\"op_code\":\"CreateObject\",\"timestamp\":1}}\n2024-03-05T14:21:03.000Z Time: garbage\n2024-03-05T14:21:04.000Z {{\"eventTime\":\"t\"}}\n"
        );
        let (r, items) = collect(&export);
        assert_eq!(r, Ok(Content::Trail(Wrapping::LogExport)));
        assert_eq!(
            items,
            [
                format!(
                    "Aline 1:{ENTRY}\n2024-03-05T14:21:02.400Z a line of the message|-|-|Some(1709648462310)"
                ),
                r#"Aline 6:{"op_code":"CreateObject","timestamp":1}|-|-|Some(1709648402000)"#
                    .to_owned(),
                "Aline 7:Time: garbage|-|-|Some(1709648463000)".to_owned(),
                r#"R3:{"eventTime":"t"}"#.to_owned(),
            ]
        );
        // Cut short by damage: the last entry is not taken as whole.
        let mut items = Vec::new();
        let r = read_items_of(&format!("{ENTRY}\n\n{ENTRY}"), false, &mut |item, loc| {
            items.push(match item {
                Item::AuditEntry { .. } => format!("A{loc}"),
                Item::Invalid { reason, .. } => format!("I{loc}:{reason}"),
                _ => "other".to_owned(),
            })
        });
        assert_eq!(r, Ok(Content::Trail(Wrapping::AuditText)));
        assert_eq!(items.len(), 2);
        assert!(
            items[1].starts_with("Iline 5:the file is damaged"),
            "{items:?}"
        );
        // Notes that merely start with "Time:" are not audit entries.
        assert_eq!(collect("Time: 2 hours\nmore").0, Ok(Content::NotJson));
        let bare = format!("\n{ENTRY}\n\n{ENTRY}\nExtra: line\n");
        let (r, items) = collect(&bare);
        assert_eq!(r, Ok(Content::Trail(Wrapping::AuditText)));
        assert_eq!(
            items,
            [
                format!("Aline 2:{ENTRY}|-|-|None"),
                format!("Aline 6:{ENTRY}\nExtra: line|-|-|None"),
            ]
        );
        assert_eq!(
            collect("Permission Check Successful").0,
            Ok(Content::NotJson)
        );
    }
}
