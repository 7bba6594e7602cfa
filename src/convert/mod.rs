//! The conversion pipeline: inputs are read, decoded, filtered and flattened in parallel
//! (one rayon task per file), rows are gathered by partition, and each partition is written once
//! at the end, sorted and de-duplicated. The [`Summary`] accounts for every file and record.
//!
//! One job a file: `options.rs` what a run is asked to do, `prefilter.rs` the source filter,
//! `read.rs` one input, `accept.rs` one record, `pending.rs` a worker's rows, `gathered.rs` the
//! run's rows and spills, `write.rs` the partitions written at the end, `summary.rs` the
//! accounting, and [`crate::progress`] what the user is told meanwhile; this file runs them in
//! order.

mod accept;
mod gathered;
mod options;
mod pending;
mod prefilter;
mod read;
mod summary;
mod write;

pub use options::{
    DEFAULT_MAX_FILE_BYTES, DEFAULT_MEMORY_BUDGET, Limits, Options, TableDefinitions, Verified,
    WriteSettings,
};
pub use pending::{BATCH_ROWS, Flushed, PendingRows};
pub use prefilter::SourceFilter;
pub use read::{TextConversion, convert_text, convert_text_of};
pub(crate) use summary::plural;
pub use summary::{
    FileCounts, OutputCounts, Problem, RecordCounts, Severity, Summary, write_summary_json,
};

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};
use arrow::record_batch::RecordBatch;
use rayon::prelude::*;

use crate::input;
use crate::output::destination::{Destination, OutputLocation};
use crate::output::lock::{self, OutputLock};
use crate::output::partition;
use crate::output::table::Table;
use crate::progress::Progress;
use crate::remote::Remote;
use crate::state;
use gathered::Gathered;
use read::{FileResult, convert_file};

/// Runs a conversion. Errors are returned only for what stops the whole run (the output cannot
/// be written); bad input is reported in the summary and the run goes on.
///
/// Order of writing, so that a run killed at any point leaves a correct output: each
/// partition's file (atomically; uploaded whole for S3), then rejected records, then with
/// `--overwrite` the removal of older data, and last the `--incremental` record of the inputs
/// converted. A rerun after a crash converts those inputs again, and the event IDs already in
/// the output keep their records from being written twice.
pub fn run(opts: &Options, progress: &dyn Progress) -> Result<Summary> {
    let started = Instant::now();
    if let OutputLocation::Folder(dir) = &opts.output
        && dir.is_file()
    {
        return Err(crate::error::UsageError(format!(
            "{} is a file: the output must be a folder (created if missing)",
            dir.display()
        ))
        .into());
    }
    let remote = connect(opts)?;
    let dest = Destination::open(&opts.output, remote.as_ref())?;
    dest.probe()?;
    // Refused before any work; checked again under the lock, where it is recorded.
    partition::claim_layout(&dest, &opts.write.layout, false)?;
    let done = if opts.write.incremental {
        state::Converted::load(&dest)?
    } else {
        state::Converted::default()
    };
    let to_read = find_inputs(opts, remote.as_deref(), &done)?;
    let work = dest.work_dir();
    std::fs::create_dir_all(work)
        .with_context(|| format!("creating the output directory {}", work.display()))?;
    lock::Owned::remove_stale(work, SPILL_PREFIX)?;
    let (state, pool) = gather(opts, to_read, Some(work), remote.as_deref(), progress)?;
    // Another run writing into this output folder finishes first, so that the event IDs it
    // adds are read before this run writes.
    let _lock = match dest.local_folder() {
        None => None,
        Some(dir) => {
            let lock = OutputLock::acquire(dir, || progress.waiting(dir))?;
            // Under the lock no other run is writing: a compaction's staging folder or a
            // conversion's temporary file still here was left by a killed run.
            crate::compact::remove_leftovers(dir)?;
            Some(lock)
        }
    };
    if state.has_output() {
        partition::claim_layout(&dest, &opts.write.layout, true)?;
    }
    let converted_inputs = state.converted_inputs.clone();
    let mut summary = pool.install(|| state.write_parquet(opts, &dest))?;
    if let Some(definitions) = &opts.write.table_definitions {
        crate::ddl::write_next_to_data(
            &dest,
            &opts.write.layout,
            definitions.athena_location.as_deref(),
        )?;
    }
    if opts.write.incremental {
        state::record(
            &dest,
            &summary.run_id,
            &state::Filter::from(&opts.filter),
            &converted_inputs,
        )?;
    }
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Names of the hidden folders of rows spilled to disk, in the output directory.
pub const SPILL_PREFIX: &str = ".hsmtrail-spill-";

/// Rows of each table, in memory.
pub type TableRows = std::collections::BTreeMap<Table, Vec<RecordBatch>>;

/// Converts without writing anything: the rows of each table (sorted by event time and
/// de-duplicated like the files `run` writes) and the summary. For a quick look at a few files.
pub fn run_in_memory(opts: &Options, progress: &dyn Progress) -> Result<(TableRows, Summary)> {
    let started = Instant::now();
    let remote = connect(opts)?;
    let to_read = find_inputs(opts, remote.as_deref(), &state::Converted::default())?;
    let (state, pool) = gather(opts, to_read, None, remote.as_deref(), progress)?;
    let (batches, mut summary) = pool.install(|| state.into_batches(opts))?;
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    Ok((batches, summary))
}

/// An S3 client when an input or the output is in S3.
fn connect(opts: &Options) -> Result<Option<Arc<Remote>>> {
    let needed = opts.output.is_s3() || opts.inputs.iter().any(|i| i.starts_with("s3://"));
    needed
        .then(|| Remote::new(opts.s3.clone()).map(Arc::new))
        .transpose()
}

/// The inputs to read: the command line's, found and listed, less other shards' and those an
/// earlier `--incremental` run converted (counted in `already_converted`).
struct ToRead {
    discovery: input::Discovery,
    already_converted: u64,
}

/// Finds the inputs. Nothing to convert at all because every input named nothing is a usage
/// error (before anything is created); some missing among others are problems of the run.
fn find_inputs(opts: &Options, remote: Option<&Remote>, done: &state::Converted) -> Result<ToRead> {
    let scope = input::Search {
        exclude: match &opts.output {
            OutputLocation::Folder(dir) => Some(dir),
            OutputLocation::S3(_) => None,
        },
        exclude_s3: match &opts.output {
            OutputLocation::S3(url) => Some(url),
            OutputLocation::Folder(_) => None,
        },
        remote,
        prune: opts.filter.prune(),
    };
    let mut discovery = input::discover(&opts.inputs, &scope);
    // (An S3 input that cannot be listed is a failure of the run, not a usage error: the
    // bucket may be unreachable today, or the credentials refused.)
    let only_local = !opts.inputs.iter().any(|i| i.starts_with("s3://"));
    if only_local
        && discovery.inputs.is_empty()
        && discovery.skipped.is_empty()
        && !discovery.problems.is_empty()
    {
        let missing: Vec<String> = discovery
            .problems
            .iter()
            .map(|(input, reason)| format!("{input}: {reason}"))
            .collect();
        return Err(crate::error::UsageError(format!(
            "nothing to convert: {}",
            missing.join("; ")
        ))
        .into());
    }
    if let Some(shard) = opts.shard {
        discovery.inputs.retain(|i| shard.contains(i));
    }
    let found = discovery.inputs.len();
    let filter = state::Filter::from(&opts.filter);
    discovery.inputs.retain(|i| !done.contains(i, &filter));
    Ok(ToRead {
        already_converted: (found - discovery.inputs.len()) as u64,
        discovery,
    })
}

/// Reads every input in parallel and gathers the rows by partition. Rejected records go to
/// `out/_rejected/` when there is an output directory.
fn gather(
    opts: &Options,
    found: ToRead,
    out: Option<&Path>,
    remote: Option<&Remote>,
    progress: &dyn Progress,
) -> Result<(Gathered, rayon::ThreadPool)> {
    let run_id = new_run_id();
    let ToRead {
        discovery,
        already_converted,
    } = found;
    progress.start(discovery.inputs.iter().map(input::Input::stored_size).sum());
    let state = Mutex::new(Gathered::new(out, &run_id, opts.limits.memory_budget));
    {
        let mut s = state.lock().expect("no panics while locked");
        s.summary.files.total = (discovery.inputs.len() + discovery.skipped.len()) as u64;
        s.summary.files.already_converted = already_converted;
        s.summary.shard = opts.shard.map(|sh| sh.to_string());
        for (file, reason) in &discovery.problems {
            s.problem(progress, file, reason, Severity::Error);
        }
        for (file, skip) in discovery.skipped {
            let (outcome, problem) = skip.outcome();
            s.absorb(
                FileResult {
                    name: file,
                    identity: None,
                    stored_bytes: 0,
                    outcome,
                    problem,
                    records: RecordCounts::default(),
                    rejected: Vec::new(),
                },
                progress,
            );
        }
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.limits.jobs.unwrap_or(0))
        .build()
        .context("starting the worker threads")?;
    // Spills are sorted and written by the worker that took them, outside the state's lock.
    let hand_over = |result: Option<FileResult>, rows: Flushed| {
        let jobs = {
            let mut s = state.lock().expect("no panics while locked");
            if let Some(result) = result {
                s.absorb(result, progress);
            }
            s.add_rows(rows);
            s.take_spills(progress)
        };
        for job in jobs {
            let outcome = job.run();
            let mut s = state.lock().expect("no panics while locked");
            s.spilled(progress, job, outcome);
        }
    };
    pool.install(|| {
        discovery
            .inputs
            .par_iter()
            .fold(PendingRows::default, |mut pending, input| {
                let result = convert_file(input, opts, remote, &mut pending, &mut |rows| {
                    hand_over(None, rows)
                });
                hand_over(Some(result), pending.take_full());
                pending
            })
            .for_each(|pending| hand_over(None, pending.finish()))
    });
    progress.finish();
    Ok((state.into_inner().expect("no panics while locked"), pool))
}

/// A run ID that sorts by time and is unique across machines running at the same second.
pub fn new_run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!(
        "{}-{:08x}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        h.finish() as u32
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::EventFilter;

    /// Everything a run reports, as it reports it.
    #[derive(Default)]
    struct Recorder {
        total: Mutex<u64>,
        done: Mutex<u64>,
        warned: Mutex<Vec<(String, Severity)>>,
        finished: Mutex<bool>,
    }

    impl Progress for Recorder {
        fn start(&self, total_bytes: u64) {
            *self.total.lock().unwrap() = total_bytes;
        }
        fn advance(&self, bytes: u64, _status: &str) {
            *self.done.lock().unwrap() += bytes;
        }
        fn warn(&self, file: &str, _reason: &str, severity: Severity) {
            self.warned
                .lock()
                .unwrap()
                .push((file.to_owned(), severity));
        }
        fn finish(&self) {
            *self.finished.lock().unwrap() = true;
        }
    }

    #[test]
    fn a_run_reports_its_progress_and_problems_through_the_trait() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        std::fs::create_dir(&input).unwrap();
        let good = r#"{"Records":[{"eventTime":"2024-01-01T00:00:00Z","eventID":"a","eventSource":"kms.amazonaws.com"}]}"#;
        std::fs::write(input.join("good.json"), good).unwrap();
        let bad = r#"{"Records":[{"eventTime""#;
        std::fs::write(input.join("bad.json"), bad).unwrap();
        let opts = Options {
            filter: EventFilter::every_source(),
            ..Options::new(
                vec![input.to_str().unwrap().to_owned()],
                dir.path().join("out"),
            )
        };
        let recorder = Recorder::default();
        let summary = run(&opts, &recorder).unwrap();
        let total = (good.len() + bad.len()) as u64;
        assert_eq!(*recorder.total.lock().unwrap(), total);
        assert_eq!(*recorder.done.lock().unwrap(), total);
        let warned = recorder.warned.lock().unwrap();
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert!(warned[0].0.ends_with("bad.json") && warned[0].1 == Severity::Error);
        assert!(*recorder.finished.lock().unwrap());
        assert_eq!(summary.problems.len(), 1);
        assert_eq!(summary.records.kept, 1);
    }
}
