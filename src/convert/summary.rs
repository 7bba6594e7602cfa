//! The summary of a run: every file and record accounted for, the problems, and what was
//! written; as text for people and as JSON for scripts.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use crate::output;

/// Files by outcome.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct FileCounts {
    pub total: u64,
    /// Inputs left out because an earlier `--incremental` run converted them.
    pub already_converted: u64,
    pub converted: u64,
    /// Skipped files by reason: `digest`, `empty`, `not-json`.
    pub skipped: BTreeMap<String, u64>,
    pub failed: u64,
}

/// Records by outcome; `read = kept + filtered + duplicates + rejected`.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct RecordCounts {
    pub read: u64,
    /// Written (or, in memory, returned).
    pub kept: u64,
    /// Left out by the filter (sources, time, accounts, regions).
    pub filtered: u64,
    /// Not written because the event was there already: in the output, or earlier in this
    /// run's input.
    pub duplicates: u64,
    /// Of `duplicates`, those already in the output (written by an earlier run).
    pub already_in_output: u64,
    pub rejected: u64,
    /// Of `kept`, HSM audit log entries (the `hsm_audit` table).
    pub audit_entries: u64,
}

/// A file that could not be read completely, an input that named nothing, or a file left out.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub reason: String,
    pub severity: Severity,
}

/// How much a [`Problem`] matters.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A file skipped as expected (a digest, another service's logs): named in the summary
    /// only, since archives hold thousands of them.
    Skipped,
    /// Worth a look, shown as it happens; the run is still clean.
    Warning,
    /// Data could not be read: shown as it happens, and the run exits 1.
    Error,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Skipped => "skipped",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// What was written.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct OutputCounts {
    pub directory: String,
    pub partitions: u64,
    pub files: Vec<String>,
    pub bytes: u64,
    /// Parquet files of earlier runs removed by `--overwrite`.
    pub replaced_files: u64,
    /// Where rejected records were written, if any were.
    pub rejected_file: Option<String>,
}

/// The account of a run, printed on stderr and written by `--summary-json`.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Summary {
    pub run_id: String,
    /// `K/N` when only one shard of the inputs was converted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    pub files: FileCounts,
    /// Converted files by the wrapper their records came in.
    pub formats: BTreeMap<String, u64>,
    pub records: RecordCounts,
    /// Per column, values left null because of an unexpected JSON type.
    pub type_mismatches: BTreeMap<String, u64>,
    pub output: OutputCounts,
    pub problems: Vec<Problem>,
    pub elapsed_seconds: f64,
}

impl Summary {
    /// Whether the run was clean: no failed file, no rejected record, no missing input.
    pub fn is_clean(&self) -> bool {
        self.files.failed == 0
            && self.records.rejected == 0
            && !self.problems.iter().any(|p| p.severity == Severity::Error)
    }

    /// A few lines for people.
    pub fn to_text(&self) -> String {
        let f = &self.files;
        let r = &self.records;
        let mut files = vec![format!("{} converted", f.converted)];
        let skipped = f.skipped.values().sum::<u64>();
        if skipped > 0 {
            let reasons: Vec<String> = f.skipped.iter().map(|(k, v)| format!("{v} {k}")).collect();
            files.push(format!("{skipped} skipped ({})", reasons.join(", ")));
        }
        files.push(format!("{} failed", f.failed));
        let mut files = format!("{} (of {})", files.join(", "), f.total);
        if f.already_converted > 0 {
            files.push_str(&format!(
                "; {} left out, converted by earlier --incremental runs",
                plural(f.already_converted, "more input", "more inputs")
            ));
        }
        let mut records = vec![match r.audit_entries {
            0 => format!("{} written", r.kept),
            audit => format!("{} written ({audit} of them HSM audit entries)", r.kept),
        }];
        if r.already_in_output > 0 {
            records.push(format!("{} already in the output", r.already_in_output));
        }
        let repeated = r.duplicates - r.already_in_output;
        if repeated > 0 {
            records.push(format!("{repeated} repeated in the input"));
        }
        if r.filtered > 0 {
            records.push(format!("{} left out by the filter", r.filtered));
        }
        if r.rejected > 0 {
            records.push(format!("{} rejected", r.rejected));
        }
        let output = match self.output.files.len() {
            0 => format!("nothing new to write under {}", self.output.directory),
            n => format!(
                "{} ({}) under {}",
                plural(n as u64, "file", "files"),
                plural(self.output.bytes, "byte", "bytes"),
                self.output.directory
            ),
        };
        let mut out = format!(
            "hsmtrail convert: run {}\n  files:   {files}\n  records: {} read: {}\n  output:  {output}\n",
            self.run_id,
            r.read,
            records.join(", "),
        );
        if self.output.replaced_files > 0 {
            out.push_str(&format!(
                "  replaced {} of earlier runs (--overwrite)\n",
                plural(self.output.replaced_files, "file", "files")
            ));
        }
        if !self.type_mismatches.is_empty() {
            let list: Vec<String> = self
                .type_mismatches
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            out.push_str(&format!(
                "  unexpected value types (column left null, value kept in raw JSON): {}\n",
                list.join(", ")
            ));
        }
        if let Some(path) = &self.output.rejected_file {
            out.push_str(&format!("  rejected records: {path}\n"));
        }
        let errors = self
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count() as u64;
        if errors > 0 {
            out.push_str(&format!(
                "  {} (named above as they happened, and in --summary-json)\n",
                plural(errors, "problem", "problems")
            ));
        }
        out.push_str(&format!("  took {:.2} s\n", self.elapsed_seconds));
        out
    }
}

/// `1 file`, `2 files`.
pub(crate) fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Writes the summary as JSON to `path`: atomically for a file, through links, or straight
/// into a special file such as `/dev/stdout` (see [`output::write_user_file`]).
pub fn write_summary_json(summary: &Summary, path: &Path) -> Result<()> {
    output::write_user_file(path, |out| {
        serde_json::to_writer_pretty(&mut *out, summary)?;
        out.write_all(b"\n")?;
        Ok(())
    })
}
