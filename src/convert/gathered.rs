//! What the run has gathered from its workers: rows by partition in memory or spilled to disk
//! within `--memory-budget`, the rejected records, and the summary so far.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Result;
use arrow::record_batch::RecordBatch;

use super::SPILL_PREFIX;
use super::pending::Flushed;
use super::read::{FileResult, Outcome};
use super::summary::{Problem, Severity, Summary};
use crate::input;
use crate::output;
use crate::output::lock;
use crate::progress::Progress;

/// One partition's rows: held in memory, or spilled as sorted runs.
#[derive(Default)]
pub(super) struct Partition {
    pub(super) batches: Vec<RecordBatch>,
    pub(super) bytes: usize,
    pub(super) spilled: Vec<PathBuf>,
}

/// A partition's rows taken out of memory, to be written to disk as a sorted run.
pub(super) struct SpillJob {
    pub(super) partition: String,
    pub(super) batches: Vec<RecordBatch>,
    pub(super) bytes: usize,
    pub(super) path: PathBuf,
}

impl SpillJob {
    pub(super) fn run(&self) -> Result<()> {
        let table = output::table::Table::of_partition(&self.partition);
        output::merge::spill(&self.path, table, output::sorted_run(self.batches.clone())?)
    }
}

/// What the run has gathered so far.
pub(super) struct Gathered {
    pub(super) summary: Summary,
    pub(super) partitions: HashMap<String, Partition>,
    /// Bytes of rows held in `partitions`.
    pub(super) buffered: usize,
    /// Spill budget; `usize::MAX` when rows are returned in memory anyway.
    pub(super) budget: usize,
    /// Bytes of rows taken out of memory by spills that are still being written.
    pub(super) spilling: usize,
    /// Hidden folder of sorted runs that did not fit the budget, removed when the run ends
    /// (or by a later run, if this one is killed).
    pub(super) spill_dir: Option<lock::Owned>,
    pub(super) spills: usize,
    pub(super) rejected: Option<(PathBuf, BufWriter<tempfile::NamedTempFile>)>,
    /// The output directory; `None` for in-memory runs, which only count rejected records.
    pub(super) out: Option<PathBuf>,
    pub(super) run_id: String,
    /// Inputs read to the end (converted or skipped), for `--incremental`.
    pub(super) converted_inputs: Vec<input::Identity>,
}

impl Gathered {
    pub(super) fn new(out: Option<&Path>, run_id: &str, budget: usize) -> Self {
        Gathered {
            summary: Summary {
                run_id: run_id.to_owned(),
                ..Summary::default()
            },
            partitions: HashMap::new(),
            buffered: 0,
            budget: if out.is_some() { budget } else { usize::MAX },
            spilling: 0,
            spill_dir: None,
            spills: 0,
            rejected: None,
            out: out.map(Path::to_path_buf),
            run_id: run_id.to_owned(),
            converted_inputs: Vec::new(),
        }
    }

    pub(super) fn problem(
        &mut self,
        progress: &dyn Progress,
        file: &str,
        reason: &str,
        severity: Severity,
    ) {
        progress.warn(file, reason, severity);
        self.summary.problems.push(Problem {
            file: file.to_owned(),
            reason: reason.to_owned(),
            severity,
        });
    }

    pub(super) fn absorb(&mut self, r: FileResult, progress: &dyn Progress) {
        if !matches!(r.outcome, Outcome::Failed)
            && let Some(identity) = r.identity
        {
            self.converted_inputs.push(identity);
        }
        let files = &mut self.summary.files;
        match r.outcome {
            Outcome::Converted(format) => {
                files.converted += 1;
                *self
                    .summary
                    .formats
                    .entry(format.name().to_owned())
                    .or_default() += 1;
            }
            Outcome::Skipped(reason) => *files.skipped.entry(reason.key()).or_default() += 1,
            Outcome::Failed => files.failed += 1,
        }
        if let Some((reason, severity)) = &r.problem {
            self.problem(progress, &r.name, reason, *severity);
        }
        let c = &mut self.summary.records;
        c.read += r.records.read;
        c.kept += r.records.kept;
        c.audit_entries += r.records.audit_entries;
        c.filtered += r.records.filtered;
        c.rejected += r.records.rejected;
        if !r.rejected.is_empty()
            && let Err(e) = self.write_rejected(&r.rejected)
        {
            let reason = format!("cannot write rejected records: {e:#}");
            self.problem(progress, &r.name, &reason, Severity::Error);
        }
        let files = &self.summary.files;
        let status = format!(
            "{}/{} files, {} kept",
            files.converted + files.failed + files.skipped.values().sum::<u64>(),
            files.total,
            self.summary.records.kept
        );
        progress.advance(r.stored_bytes, &status);
    }

    /// Takes in rows the workers have flattened.
    pub(super) fn add_rows(&mut self, flushed: Flushed) {
        for (column, n) in flushed.mismatches {
            *self
                .summary
                .type_mismatches
                .entry(column.to_owned())
                .or_default() += n;
        }
        for (partition, batch) in flushed.parts {
            let bytes = batch.get_array_memory_size();
            let p = self.partitions.entry(partition).or_default();
            p.bytes += bytes;
            p.batches.push(batch);
            self.buffered += bytes;
        }
    }

    pub(super) fn write_rejected(&mut self, lines: &[u8]) -> Result<()> {
        let Some(dir) = self.out.as_ref().map(|o| o.join("_rejected")) else {
            return Ok(());
        };
        if self.rejected.is_none() {
            std::fs::create_dir_all(&dir)?;
            let temp = output::temporary_in(&dir)?;
            // Held locked while this run writes it (outside the output lock), so that a later
            // run tells a live one from one a killed run left (see compact::remove_leftovers).
            temp.as_file().lock()?;
            let path = dir.join(format!("{}.jsonl", self.run_id));
            self.rejected = Some((path, BufWriter::new(temp)));
        }
        let (_, writer) = self.rejected.as_mut().expect("just created");
        writer.write_all(lines)?;
        Ok(())
    }

    /// Takes the largest partitions' rows out until the rows held fit the budget again. The
    /// caller sorts and writes them to the spill folder without holding the state's lock, so
    /// that other workers go on converting meanwhile.
    ///
    /// Rows being spilled still count against the budget until they are on disk; while a
    /// spill runs, another starts only once a quarter of the budget has gathered again, so
    /// memory stays near the budget without a flurry of tiny runs.
    pub(super) fn take_spills(&mut self, progress: &dyn Progress) -> Vec<SpillJob> {
        let mut jobs = Vec::new();
        while self.buffered + self.spilling > self.budget && self.buffered > 0 {
            if self.spilling > 0 && self.buffered < self.budget / 4 {
                break;
            }
            if let Err(e) = self.ensure_spill_dir() {
                self.spill_failed(progress, &e);
                break;
            }
            let Some((name, partition)) = self
                .partitions
                .iter_mut()
                .filter(|(_, p)| p.bytes > 0)
                .max_by_key(|(_, p)| p.bytes)
            else {
                break;
            };
            let dir = self.spill_dir.as_ref().expect("just ensured").path();
            jobs.push(SpillJob {
                partition: name.clone(),
                batches: std::mem::take(&mut partition.batches),
                bytes: std::mem::take(&mut partition.bytes),
                path: dir.join(format!("{}.arrow", self.spills)),
            });
            self.spills += 1;
            let bytes = jobs.last().expect("just pushed").bytes;
            self.buffered -= bytes;
            self.spilling += bytes;
        }
        jobs
    }

    pub(super) fn ensure_spill_dir(&mut self) -> Result<()> {
        if self.spill_dir.is_none() {
            let out = self.out.as_deref().unwrap_or(Path::new("."));
            self.spill_dir = Some(lock::Owned::create(out, SPILL_PREFIX)?);
        }
        Ok(())
    }

    /// Records a spill's outcome: its run joins the partition, or on failure its rows go back
    /// into memory and the run stops spilling (rows are never lost to a full disk).
    pub(super) fn spilled(&mut self, progress: &dyn Progress, job: SpillJob, outcome: Result<()>) {
        self.spilling -= job.bytes;
        let partition = self.partitions.entry(job.partition).or_default();
        match outcome {
            Ok(()) => partition.spilled.push(job.path),
            Err(e) => {
                partition.batches.extend(job.batches);
                partition.bytes += job.bytes;
                self.buffered += job.bytes;
                self.spill_failed(progress, &e);
            }
        }
    }

    pub(super) fn spill_failed(&mut self, progress: &dyn Progress, e: &anyhow::Error) {
        let reason = format!("cannot spill rows to disk, keeping them in memory: {e:#}");
        let dir = self
            .out
            .as_deref()
            .unwrap_or(Path::new("."))
            .display()
            .to_string();
        self.problem(progress, &dir, &reason, Severity::Error);
        self.budget = usize::MAX;
    }

    /// Whether the run has anything to write: rows, or rejected records.
    pub(super) fn has_output(&self) -> bool {
        !self.partitions.is_empty() || self.rejected.is_some()
    }
}
