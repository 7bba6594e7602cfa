//! The conversion pipeline: inputs are read, decoded, filtered and flattened in parallel
//! (one rayon task per file), rows are gathered by partition, and each partition is written once
//! at the end, sorted and de-duplicated. The [`Summary`] accounts for every file and record.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result};
use arrow::record_batch::RecordBatch;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;

use crate::flatten::{Flattener, Prepared};
use crate::input::container::{self, Content, Item, Location};
use crate::input::{self, Input, Skip, decode};
use crate::output::destination::Destination;
use crate::output::lock::{self, OutputLock};
use crate::output::merge::EventIds;
use crate::output::partition::{self, Layout};
use crate::output::{self, Compression};
use crate::record::{MAX_NESTING, RawRecord, nesting_exceeds, raw_str};
use crate::remote::{self, Remote, S3Options, S3Url};
use crate::schema::CLOUDHSM_SOURCE;
use crate::state;
use crate::time::{self, Bound};

/// Default bound on one file's decompressed size: CloudTrail delivery files are at most tens of
/// MB, so 2 GiB only stops bombs.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 2 << 30;

/// Default for [`Options::memory_budget`]: 128 MiB of rows, which keeps a whole `--all-sources`
/// run under 600 MiB of peak memory with the merge and the writer on top (benches/RESULTS.md).
pub const DEFAULT_MEMORY_BUDGET: usize = 128 << 20;

/// Which event sources to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceFilter {
    /// Every source.
    All,
    /// Only these `eventSource` values.
    Only(Vec<String>),
}

impl Default for SourceFilter {
    fn default() -> Self {
        SourceFilter::Only(vec![CLOUDHSM_SOURCE.to_owned()])
    }
}

impl SourceFilter {
    fn admits(&self, source: Option<&str>) -> bool {
        match self {
            SourceFilter::All => true,
            SourceFilter::Only(names) => source.is_some_and(|s| names.iter().any(|n| n == s)),
        }
    }

    /// The byte-level pre-filter for these sources, built once per file.
    fn prefilter(&self) -> Prefilter {
        match self {
            SourceFilter::All => Prefilter(None),
            SourceFilter::Only(names) => Prefilter(Some(
                names
                    .iter()
                    .map(|n| {
                        memchr::memmem::FinderBuilder::new()
                            .build_forward_with_ranker(TrailByteRank, n.as_bytes())
                            .into_owned()
                    })
                    .collect(),
            )),
        }
    }
}

/// How common each byte is in CloudTrail JSON, for the substring search to pick the two rarest
/// bytes of a name as its candidates. Its built-in ranking is for text in general, where `c`,
/// `l` and `o` are rarer than in trails, whose every record spells `amazonaws.com` a few times:
/// with this one the CloudHSM name is found a third faster.
struct TrailByteRank;

impl TrailByteRank {
    /// Bytes of the real trails in `../shared/realdata`, most frequent first (measured over
    /// 10 MB of them); any other byte is rarer than all of these.
    const BY_FREQUENCY: &[u8] =
        b" \"eas:ntrco,1idu-2049m35lI8A.\n76pvbfwygDS{}TNCERPz/ZMkVhqK_BLUxOWHGQJFX\\Yj[]#+;*";
}

impl memchr::arch::all::packedpair::HeuristicFrequencyRank for TrailByteRank {
    fn rank(&self, byte: u8) -> u8 {
        match Self::BY_FREQUENCY.iter().position(|&b| b == byte) {
            Some(i) => u8::MAX - i as u8,
            None => 0,
        }
    }
}

/// Decides from bytes alone whether a record's text might be from an admitted source, so that
/// the records of other services are skipped without being parsed. Says no only when none of
/// the names occurs literally and the text holds no `\u` escape (the only way JSON can spell
/// these names' characters otherwise), so it never drops a record the exact filter would keep.
struct Prefilter(Option<Vec<memchr::memmem::Finder<'static>>>);

impl Prefilter {
    fn may_admit(&self, text: &str) -> bool {
        match &self.0 {
            None => true,
            Some(finders) => {
                finders.iter().any(|f| f.find(text.as_bytes()).is_some())
                    || unicode_escapes(text.as_bytes()).next().is_some()
            }
        }
    }

    /// Searches a whole file for the names at once: one pass a name instead of one call a
    /// record, whose set-up cost outweighed the search on short records.
    fn over<'f>(&'f self, file: &'f str) -> FilePrefilter<'f> {
        let mut hits: Vec<(usize, usize)> = match &self.0 {
            None => Vec::new(),
            Some(finders) => finders
                .iter()
                .flat_map(|f| {
                    let len = f.needle().len();
                    f.find_iter(file.as_bytes()).map(move |at| (at, at + len))
                })
                .collect(),
        };
        hits.sort_unstable();
        FilePrefilter {
            prefilter: self,
            file,
            hits,
        }
    }
}

/// Where `\u` occurs in `bytes`. Found from the backslashes, which are rare in trails (about
/// one in 2 KB of real ones), so one single-byte search does it, at about half the cost of
/// searching for the pair. Delivery files need it only for the records their scan saw a `\u`
/// in.
fn unicode_escapes(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    memchr::memchr_iter(b'\\', bytes).filter(|&at| bytes.get(at + 1) == Some(&b'u'))
}

/// The [`Prefilter`] with where its names occur in one file.
struct FilePrefilter<'f> {
    prefilter: &'f Prefilter,
    file: &'f str,
    /// Byte ranges of the names' occurrences, by start.
    hits: Vec<(usize, usize)>,
}

impl FilePrefilter<'_> {
    /// [`Prefilter::may_admit`], answered from the file's occurrences when `text` lies in the
    /// file (records taken out of JSON strings do not, and are searched themselves).
    /// `unicode_escape` false says the reader saw no `\u` in `text`, so none is looked for.
    fn may_admit(&self, text: &str, unicode_escape: bool) -> bool {
        if self.prefilter.0.is_none() {
            return true;
        }
        let file = self.file.as_bytes().as_ptr_range();
        let record = text.as_bytes().as_ptr_range();
        if record.start < file.start || record.end > file.end {
            return self.prefilter.may_admit(text);
        }
        let from = record.start as usize - file.start as usize;
        let to = from + text.len();
        let first = self.hits.partition_point(|(start, _)| *start < from);
        self.hits[first..]
            .iter()
            .take_while(|(start, _)| *start < to)
            .any(|(_, end)| *end <= to)
            || unicode_escape && unicode_escapes(text.as_bytes()).next().is_some()
    }
}

/// Everything a conversion needs to know.
#[derive(Debug, Clone)]
pub struct Options {
    pub inputs: Vec<String>,
    pub out: PathBuf,
    pub sources: SourceFilter,
    pub since: Option<Bound>,
    pub until: Option<Bound>,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    /// Worker threads; `None` uses every core.
    pub jobs: Option<usize>,
    pub compression: Compression,
    pub layout: Layout,
    pub overwrite: bool,
    pub keep_duplicates: bool,
    pub max_file_bytes: u64,
    /// Bytes of converted rows held in memory before the largest partition is spilled to disk
    /// as a sorted run; bounds memory whatever the archive's size.
    pub memory_budget: usize,
    /// Convert only this part of the inputs (for N machines sharing one archive).
    pub shard: Option<input::Shard>,
    /// No progress bar and no warnings on stderr (the summary still lists problems).
    pub quiet: bool,
    /// An S3 output: `out` is then a local staging folder whose finished files are uploaded
    /// here and removed.
    pub publish: Option<S3Url>,
    /// How to reach S3, for `s3://` inputs and output.
    pub s3: S3Options,
    /// Skip inputs an earlier run converted (as recorded in the output's `_hsmtrail/inputs/`),
    /// and record this run's.
    pub incremental: bool,
    /// Write table definitions into the output's `_hsmtrail/`; the `Some` value is where
    /// Athena should find the data, when given.
    pub write_ddl: Option<Option<String>>,
}

impl Options {
    /// The records this run keeps, as `--incremental` records it.
    pub fn filter(&self) -> state::Filter {
        state::Filter {
            sources: match &self.sources {
                SourceFilter::All => None,
                SourceFilter::Only(names) => Some(names.iter().cloned().collect()),
            },
            since_ms: self.since.map(|b| b.start),
            until_ms: self.until.map(|b| b.last_ms()),
            accounts: self.accounts.iter().cloned().collect(),
            regions: self.regions.iter().cloned().collect(),
        }
    }

    /// Options with the documented defaults for these inputs and output directory.
    pub fn new(inputs: Vec<String>, out: PathBuf) -> Self {
        Options {
            inputs,
            out,
            sources: SourceFilter::default(),
            since: None,
            until: None,
            accounts: Vec::new(),
            regions: Vec::new(),
            jobs: None,
            compression: Compression::default(),
            layout: Layout::default(),
            overwrite: false,
            keep_duplicates: false,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            shard: None,
            quiet: false,
            publish: None,
            s3: S3Options::default(),
            incremental: false,
            write_ddl: None,
        }
    }
}

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
        let mut records = vec![format!("{} written", r.kept)];
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

/// A record that could not be converted, as written to `_rejected/<run>.jsonl`.
#[derive(Debug, Serialize)]
struct Rejected<'a> {
    file: &'a str,
    #[serde(flatten)]
    location: Location,
    reason: &'a str,
    raw: &'a str,
}

/// Runs a conversion. Errors are returned only for what stops the whole run (the output cannot
/// be written); bad input is reported in the summary and the run goes on.
///
/// Order of writing, so that a run killed at any point leaves a correct output: each
/// partition's file (atomically; uploaded whole for S3), then rejected records, then with
/// `--overwrite` the removal of older data, and last the `--incremental` record of the inputs
/// converted. A rerun after a crash converts those inputs again, and the event IDs already in
/// the output keep their records from being written twice.
pub fn run(opts: &Options) -> Result<Summary> {
    let started = Instant::now();
    if opts.out.is_file() {
        return Err(crate::error::UsageError(format!(
            "{} is a file: the output must be a folder (created if missing)",
            opts.out.display()
        ))
        .into());
    }
    let remote = connect(opts)?;
    let dest = Destination {
        local: &opts.out,
        s3: opts.publish.as_ref().zip(remote.as_ref()),
    };
    if let Some((url, remote)) = dest.s3 {
        remote.probe(url)?;
    }
    // Refused before any work; checked again under the lock, where it is recorded.
    partition::claim_layout(&dest, &opts.layout, false)?;
    let done = if opts.incremental {
        state::Converted::load(&dest)?
    } else {
        state::Converted::default()
    };
    let to_read = find_inputs(opts, Some(&opts.out), remote.as_ref(), &done)?;
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating the output directory {}", opts.out.display()))?;
    lock::Owned::remove_stale(&opts.out, SPILL_PREFIX)?;
    let (state, pool) = gather(opts, to_read, Some(&opts.out), remote.as_ref())?;
    // Another run writing into this output (locally) finishes first, so that the event IDs
    // it adds are read before this run writes.
    let _lock = match dest.s3 {
        Some(_) => None,
        None => Some(OutputLock::acquire(&opts.out, || {
            if !opts.quiet {
                crate::say!(
                    "hsmtrail: waiting for another run writing into {} to finish",
                    opts.out.display()
                );
            }
        })?),
    };
    if dest.s3.is_none() {
        // Under the lock no other run is writing: a compaction's staging folder or a
        // conversion's temporary file still here was left by a killed run.
        crate::compact::remove_leftovers(&opts.out)?;
    }
    if state.has_output() {
        partition::claim_layout(&dest, &opts.layout, true)?;
    }
    let converted_inputs = state.converted_inputs.clone();
    let mut summary = pool.install(|| state.write_parquet(opts, &dest))?;
    if let Some(athena_location) = &opts.write_ddl {
        crate::ddl::write_next_to_data(&dest, &opts.layout, athena_location.as_deref())?;
    }
    if opts.incremental {
        state::record(&dest, &summary.run_id, &opts.filter(), &converted_inputs)?;
    }
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Names of the hidden folders of rows spilled to disk, in the output directory.
pub const SPILL_PREFIX: &str = ".hsmtrail-spill-";

/// Converts without writing anything: the rows (sorted by event time and de-duplicated like
/// the files `run` writes) and the summary. For a quick look at a few trail files.
pub fn run_in_memory(opts: &Options) -> Result<(Vec<RecordBatch>, Summary)> {
    let started = Instant::now();
    let remote = connect(opts)?;
    let to_read = find_inputs(opts, None, remote.as_ref(), &state::Converted::default())?;
    let (state, pool) = gather(opts, to_read, None, remote.as_ref())?;
    let (batches, mut summary) = pool.install(|| state.into_batches(opts))?;
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    Ok((batches, summary))
}

/// An S3 client when an input or the output is in S3.
fn connect(opts: &Options) -> Result<Option<Remote>> {
    let needed = opts.publish.is_some() || opts.inputs.iter().any(|i| i.starts_with("s3://"));
    needed.then(|| Remote::new(opts.s3.clone())).transpose()
}

/// The inputs to read: the command line's, found and listed, less other shards' and those an
/// earlier `--incremental` run converted (counted in `already_converted`).
struct ToRead {
    discovery: input::Discovery,
    already_converted: u64,
}

/// Finds the inputs. Nothing to convert at all because every input named nothing is a usage
/// error (before anything is created); some missing among others are problems of the run.
fn find_inputs(
    opts: &Options,
    out: Option<&Path>,
    remote: Option<&Remote>,
    done: &state::Converted,
) -> Result<ToRead> {
    let scope = input::Scope {
        exclude: out.filter(|_| opts.publish.is_none()),
        exclude_s3: opts.publish.as_ref(),
        remote,
        prune: remote::prune_for(
            &opts.accounts,
            &opts.regions,
            opts.since.map(|b| b.start),
            opts.until.map(|b| b.last_ms()),
        ),
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
    let filter = opts.filter();
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
) -> Result<(State, rayon::ThreadPool)> {
    let run_id = new_run_id();
    let ToRead {
        discovery,
        already_converted,
    } = found;
    let notices = Notices::new(opts, &discovery.inputs);
    let state = Mutex::new(State::new(out, &run_id, opts.memory_budget));
    {
        let mut s = state.lock().expect("no panics while locked");
        s.summary.files.total = (discovery.inputs.len() + discovery.skipped.len()) as u64;
        s.summary.files.already_converted = already_converted;
        s.summary.shard = opts.shard.map(|sh| sh.to_string());
        for (file, reason) in &discovery.problems {
            s.problem(&notices, file, reason, Severity::Error);
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
                &notices,
            );
        }
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.unwrap_or(0))
        .build()
        .context("starting the worker threads")?;
    // Spills are sorted and written by the worker that took them, outside the state's lock.
    let hand_over = |result: Option<FileResult>, rows: Flushed| {
        let jobs = {
            let mut s = state.lock().expect("no panics while locked");
            if let Some(result) = result {
                s.absorb(result, &notices);
            }
            s.add_rows(rows);
            s.take_spills(&notices)
        };
        for job in jobs {
            let outcome = job.run();
            let mut s = state.lock().expect("no panics while locked");
            s.spilled(&notices, job, outcome);
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
    notices.finish();
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

/// Progress bar and warnings on stderr, both silent with `--quiet`.
struct Notices {
    bar: ProgressBar,
    quiet: bool,
}

impl Notices {
    fn new(opts: &Options, inputs: &[Input]) -> Self {
        let total: u64 = inputs.iter().map(Input::stored_size).sum();
        let target = if opts.quiet || !std::io::stderr().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let bar = ProgressBar::with_draw_target(Some(total), target);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {elapsed} [{bar:20}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        Notices {
            bar,
            quiet: opts.quiet,
        }
    }

    fn warn(&self, file: &str, reason: &str, severity: Severity) {
        if !self.quiet && severity > Severity::Skipped {
            self.bar
                .suspend(|| crate::say!("hsmtrail: {severity}: {file}: {reason}"));
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// What reading one file produced.
struct FileResult {
    name: String,
    /// For `--incremental`, when the file was read to the end.
    identity: Option<input::Identity>,
    stored_bytes: u64,
    outcome: Outcome,
    problem: Option<(String, Severity)>,
    records: RecordCounts,
    rejected: Vec<u8>,
}

enum Outcome {
    Converted(container::Format),
    Skipped(Skip),
    Failed,
}

fn convert_file(
    input: &Input,
    opts: &Options,
    remote: Option<&Remote>,
    pending: &mut PendingRows,
    hand_over: &mut dyn FnMut(Flushed),
) -> FileResult {
    let name = input.name();
    let mut result = FileResult {
        identity: opts.incremental.then(|| input.identity()).flatten(),
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
        && *size > opts.max_file_bytes
    {
        let limit = decode::DecodeError::TooLarge {
            limit: opts.max_file_bytes,
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
    let mut decoded = decode::decode(reader, opts.max_file_bytes);
    let converted = convert_text(&decoded.text, &result.name, opts, pending, hand_over);
    let content = converted.content;
    result.records = converted.records;
    result.rejected = converted.rejected;

    let walked = input.walked();
    // A binary file found by a walk (an image, another tool's Parquet) is not a damaged trail
    // file: no JSON before the first byte that is not text.
    if walked
        && matches!(decoded.damage, Some(decode::DecodeError::Utf8 { .. }))
        && !decoded.text.trim_start().starts_with(['{', '['])
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
    fn outcome(self) -> (Outcome, Option<(String, Severity)>) {
        let severity = match self {
            // Expected by the thousand in a real archive.
            Skip::Digest | Skip::OtherLogs(_) => Severity::Skipped,
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
/// worker holds [`MAX_PENDING_ROWS`], within the file too: a large file of small records
/// (a million tiny ones compress into a few hundred KB) never piles up in one worker, and
/// `--memory-budget` sees its rows as they come.
pub fn convert_text(
    text: &str,
    name: &str,
    opts: &Options,
    pending: &mut PendingRows,
    hand_over: &mut dyn FnMut(Flushed),
) -> TextConversion {
    let prefilter = opts.sources.prefilter();
    let prefilter = prefilter.over(text);
    let mut records = RecordCounts::default();
    let mut rejected = Vec::new();
    let mut sink = |item: Item<'_>, location: Location| {
        records.read += 1;
        let verdict = match item {
            Item::Record {
                text,
                unicode_escape,
            } => accept(text, unicode_escape, opts, &prefilter),
            Item::Invalid { raw, reason } => Verdict::Reject(raw.to_owned().into(), reason),
        };
        match verdict {
            Verdict::Keep(prepared, partition) => {
                records.kept += 1;
                pending.push(partition, &prepared, name);
                if pending.rows >= MAX_PENDING_ROWS {
                    hand_over(pending.take_full());
                }
            }
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
    };
    let content = container::read_items(text, &mut sink);
    TextConversion {
        content,
        records,
        rejected,
    }
}

/// Rows a worker has flattened and not yet handed to the run's state, by partition.
///
/// A file keeps few rows (about 80 in a dense archive, none or one in a sparse one). Handed
/// over a file at a time, they made many small batches, which were then copied again into
/// larger ones, under the state's lock (up to 15% of a dense conversion). Here the rows of a
/// worker's files gather in one [`Flattener`] a partition and reach the state as batches of
/// [`BATCH_ROWS`], built once.
#[derive(Default)]
pub struct PendingRows {
    partitions: HashMap<String, Flattener>,
    rows: usize,
}

/// Rows a partition's batch gathers before it goes to the run's state: the merge's chunk size,
/// large enough that a batch's fixed cost (a few hundred bytes a column) is small.
pub const BATCH_ROWS: usize = output::merge::MERGE_BATCH_ROWS;

/// Rows a worker holds at most, across partitions, before handing them all over: with many
/// partitions (accounts x regions x days) each would otherwise hold up to [`BATCH_ROWS`].
const MAX_PENDING_ROWS: usize = 2 * BATCH_ROWS;

/// Batches handed over by [`PendingRows`], with the type mismatches counted in their rows.
#[derive(Default)]
pub struct Flushed {
    pub parts: Vec<(String, RecordBatch)>,
    pub mismatches: Vec<(&'static str, u64)>,
}

impl PendingRows {
    fn push(&mut self, partition: String, prepared: &Prepared<'_>, source_file: &str) {
        let flattener = match self.partitions.get_mut(&partition) {
            Some(f) => f,
            None => self.partitions.entry(partition).or_default(),
        };
        flattener.push(prepared, source_file);
        self.rows += 1;
    }

    /// The partitions that have gathered a batch, or every row once the worker holds too many.
    fn take_full(&mut self) -> Flushed {
        if self.rows >= MAX_PENDING_ROWS {
            return std::mem::take(self).finish();
        }
        let mut flushed = Flushed::default();
        for (partition, flattener) in &mut self.partitions {
            if flattener.rows() >= BATCH_ROWS {
                self.rows -= flattener.rows();
                flushed.add(partition.clone(), flattener);
            }
        }
        flushed
    }

    /// Every row held (a partition handed over already and given no rows since gives no batch).
    pub fn finish(self) -> Flushed {
        let mut flushed = Flushed::default();
        for (partition, mut flattener) in self.partitions {
            if flattener.rows() > 0 {
                flushed.add(partition, &mut flattener);
            }
        }
        flushed
    }
}

impl Flushed {
    fn add(&mut self, partition: String, flattener: &mut Flattener) {
        self.mismatches.extend(flattener.take_mismatch_counts());
        self.parts.push((partition, flattener.finish()));
    }
}

enum Verdict<'a> {
    Keep(Prepared<'a>, String),
    Filter,
    Reject(std::borrow::Cow<'a, str>, String),
}

/// Decides a record's fate: kept (with its partition), filtered out, or rejected.
fn accept<'a>(
    text: &'a str,
    unicode_escape: bool,
    opts: &Options,
    prefilter: &FilePrefilter,
) -> Verdict<'a> {
    if text.starts_with('{') && !prefilter.may_admit(text, unicode_escape) {
        return Verdict::Filter;
    }
    let record = match RawRecord::parse(text) {
        Ok(r) => r,
        Err(e) => {
            return Verdict::Reject(text.into(), format!("not a JSON object: {e}"));
        }
    };
    let event_source = record.get_str("eventSource").unwrap_or(None);
    if !opts.sources.admits(event_source.as_deref()) {
        return Verdict::Filter;
    }
    let raw_time = match record.get_str("eventTime") {
        Ok(Some(t)) => t,
        Ok(None) => return Verdict::Reject(text.into(), "no eventTime".into()),
        Err(_) => return Verdict::Reject(text.into(), "eventTime is not a string".into()),
    };
    let Some(event_time) = time::parse_event_time(&raw_time) else {
        return Verdict::Reject(text.into(), format!("eventTime '{raw_time}' is not a time"));
    };
    if opts.since.is_some_and(|b| event_time < b.start)
        || opts.until.is_some_and(|b| event_time > b.last_ms())
    {
        return Verdict::Filter;
    }
    let region = record.get_str("awsRegion").unwrap_or(None);
    if !opts.regions.is_empty()
        && !region
            .as_deref()
            .is_some_and(|r| opts.regions.iter().any(|x| x == r))
    {
        return Verdict::Filter;
    }
    let account = account_of(&record);
    if !opts.accounts.is_empty()
        && !account
            .as_deref()
            .is_some_and(|a| opts.accounts.iter().any(|x| x == a))
    {
        return Verdict::Filter;
    }
    if nesting_exceeds(text, MAX_NESTING) {
        return Verdict::Reject(
            text.into(),
            format!("JSON nested deeper than {MAX_NESTING} levels"),
        );
    }
    let partition = opts.layout.path(
        account.as_deref(),
        region.as_deref(),
        &time::date_of(event_time),
    );
    let prepared = Prepared {
        event_time_canonical: time::renders_as(event_time, &raw_time),
        event_time,
        event_source,
        record,
    };
    Verdict::Keep(prepared, partition)
}

/// The account an event belongs to: the recipient account, or for the oldest records (before
/// eventVersion 1.02 added recipientAccountId) the caller's account.
fn account_of(record: &RawRecord<'_>) -> Option<String> {
    if let Ok(Some(a)) = record.get_str("recipientAccountId") {
        return Some(a.into_owned());
    }
    let identity = RawRecord::parse(record.get("userIdentity")?.get()).ok()?;
    raw_str(identity.get("accountId")?)
        .ok()?
        .map(|a| a.into_owned())
}

/// One partition's rows: held in memory, or spilled as sorted runs.
#[derive(Default)]
struct Partition {
    batches: Vec<RecordBatch>,
    bytes: usize,
    spilled: Vec<PathBuf>,
}

/// A partition's rows taken out of memory, to be written to disk as a sorted run.
struct SpillJob {
    partition: String,
    batches: Vec<RecordBatch>,
    bytes: usize,
    path: PathBuf,
}

impl SpillJob {
    fn run(&self) -> Result<()> {
        output::merge::spill(&self.path, output::sorted_run(self.batches.clone())?)
    }
}

/// What the run has gathered so far.
struct State {
    summary: Summary,
    partitions: HashMap<String, Partition>,
    /// Bytes of rows held in `partitions`.
    buffered: usize,
    /// Spill budget; `usize::MAX` when rows are returned in memory anyway.
    budget: usize,
    /// Bytes of rows taken out of memory by spills that are still being written.
    spilling: usize,
    /// Hidden folder of sorted runs that did not fit the budget, removed when the run ends
    /// (or by a later run, if this one is killed).
    spill_dir: Option<lock::Owned>,
    spills: usize,
    rejected: Option<(PathBuf, BufWriter<tempfile::NamedTempFile>)>,
    /// The output directory; `None` for in-memory runs, which only count rejected records.
    out: Option<PathBuf>,
    run_id: String,
    /// Inputs read to the end (converted or skipped), for `--incremental`.
    converted_inputs: Vec<input::Identity>,
}

impl State {
    fn new(out: Option<&Path>, run_id: &str, budget: usize) -> Self {
        State {
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

    fn problem(&mut self, notices: &Notices, file: &str, reason: &str, severity: Severity) {
        notices.warn(file, reason, severity);
        self.summary.problems.push(Problem {
            file: file.to_owned(),
            reason: reason.to_owned(),
            severity,
        });
    }

    fn absorb(&mut self, r: FileResult, notices: &Notices) {
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
            self.problem(notices, &r.name, reason, *severity);
        }
        let c = &mut self.summary.records;
        c.read += r.records.read;
        c.kept += r.records.kept;
        c.filtered += r.records.filtered;
        c.rejected += r.records.rejected;
        if !r.rejected.is_empty()
            && let Err(e) = self.write_rejected(&r.rejected)
        {
            let reason = format!("cannot write rejected records: {e:#}");
            self.problem(notices, &r.name, &reason, Severity::Error);
        }
        notices.bar.inc(r.stored_bytes);
        let files = &self.summary.files;
        notices.bar.set_message(format!(
            "{}/{} files, {} kept",
            files.converted + files.failed + files.skipped.values().sum::<u64>(),
            files.total,
            self.summary.records.kept
        ));
    }

    /// Takes in rows the workers have flattened.
    fn add_rows(&mut self, flushed: Flushed) {
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

    fn write_rejected(&mut self, lines: &[u8]) -> Result<()> {
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
    fn take_spills(&mut self, notices: &Notices) -> Vec<SpillJob> {
        let mut jobs = Vec::new();
        while self.buffered + self.spilling > self.budget && self.buffered > 0 {
            if self.spilling > 0 && self.buffered < self.budget / 4 {
                break;
            }
            if let Err(e) = self.ensure_spill_dir() {
                self.spill_failed(notices, &e);
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

    fn ensure_spill_dir(&mut self) -> Result<()> {
        if self.spill_dir.is_none() {
            let out = self.out.as_deref().unwrap_or(Path::new("."));
            self.spill_dir = Some(lock::Owned::create(out, SPILL_PREFIX)?);
        }
        Ok(())
    }

    /// Records a spill's outcome: its run joins the partition, or on failure its rows go back
    /// into memory and the run stops spilling (rows are never lost to a full disk).
    fn spilled(&mut self, notices: &Notices, job: SpillJob, outcome: Result<()>) {
        self.spilling -= job.bytes;
        let partition = self.partitions.entry(job.partition).or_default();
        match outcome {
            Ok(()) => partition.spilled.push(job.path),
            Err(e) => {
                partition.batches.extend(job.batches);
                partition.bytes += job.bytes;
                self.buffered += job.bytes;
                self.spill_failed(notices, &e);
            }
        }
    }

    fn spill_failed(&mut self, notices: &Notices, e: &anyhow::Error) {
        let reason = format!("cannot spill rows to disk, keeping them in memory: {e:#}");
        let dir = self
            .out
            .as_deref()
            .unwrap_or(Path::new("."))
            .display()
            .to_string();
        self.problem(notices, &dir, &reason, Severity::Error);
        self.budget = usize::MAX;
    }

    /// Whether the run has anything to write: rows, or rejected records.
    fn has_output(&self) -> bool {
        !self.partitions.is_empty() || self.rejected.is_some()
    }

    /// The gathered partitions in path order.
    fn take_partitions(&mut self) -> Vec<(String, Partition)> {
        let mut partitions: Vec<_> = self.partitions.drain().collect();
        partitions.sort_by(|a, b| a.0.cmp(&b.0));
        self.summary.output.partitions = partitions.len() as u64;
        partitions
    }

    fn count_duplicates(&mut self, dropped: output::merge::Dropped) {
        let records = &mut self.summary.records;
        records.duplicates += dropped.total() as u64;
        records.already_in_output += dropped.in_output as u64;
        records.kept -= dropped.total() as u64;
    }

    /// Writes every partition, then the rejected records, then (with `--overwrite`) removes the
    /// data of earlier runs: new data is complete on disk before anything old goes.
    fn write_parquet(mut self, opts: &Options, dest: &Destination) -> Result<Summary> {
        let props = output::writer_properties(opts.compression);
        let file_name = format!("part-{}.parquet", self.run_id);
        let partitions = self.take_partitions();
        let dedup_against_output = !(opts.overwrite || opts.keep_duplicates);
        if opts.overwrite {
            // Every file --overwrite will remove must be the output's own: a file of another
            // tool in a partition folder stops the run before anything is written or removed.
            for file in dest.all_data_files()? {
                dest.check_footer(&file)?;
            }
        }
        if dedup_against_output {
            // A file that cannot be read for its event IDs stops the run before it writes
            // anything, rather than after some partitions.
            partitions
                .par_iter()
                .try_for_each(|(dir, _)| dest.check_data_files(dir))?;
        }
        let spill_dir = self.spill_dir.as_ref().map(|d| d.path());
        let written: Vec<_> = partitions
            .into_par_iter()
            .enumerate()
            .map(|(index, (dir, partition))| {
                let mut runs = partition
                    .spilled
                    .iter()
                    .map(|p| output::merge::spilled_run(p.clone()))
                    .collect::<Result<Vec<_>>>()?;
                if let Some(spill_dir) = spill_dir {
                    runs = output::merge::reduce_runs(runs, spill_dir, &index.to_string())?;
                }
                if !partition.batches.is_empty() {
                    runs.push(output::sorted_run(partition.batches)?);
                }
                // Events already in the output (an earlier run, an overlapping trail, a run
                // that was killed) are not written again.
                let seen = if dedup_against_output {
                    dest.existing_ids(&dir)?
                } else {
                    EventIds::default()
                };
                let file = output::write_partition(
                    &opts.out.join(&dir),
                    &file_name,
                    runs,
                    opts.keep_duplicates,
                    seen,
                    &props,
                )?;
                let relative = format!("{dir}/{file_name}");
                if file.path.is_some() {
                    dest.publish(&relative)?;
                }
                Ok((dest.name_of(&relative), file))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut kept = HashSet::new();
        self.summary.output.directory = dest.display();
        for (name, file) in written {
            self.count_duplicates(file.dropped);
            if file.path.is_some() {
                let out = &mut self.summary.output;
                out.bytes += file.bytes;
                out.files.push(name.clone());
                kept.insert(name);
            }
        }
        if let Some((path, writer)) = self.rejected.take() {
            let temp = writer.into_inner().map_err(|e| e.into_error())?;
            output::persist(temp, &path)?;
            let relative = format!("_rejected/{}.jsonl", self.run_id);
            dest.publish(&relative)?;
            self.summary.output.rejected_file = Some(dest.name_of(&relative));
        }
        if opts.overwrite {
            let older: Vec<_> = dest
                .all_data_files()?
                .into_iter()
                .filter(|f| !kept.contains(&f.name()))
                .collect();
            dest.remove(&older)?;
            if dest.s3.is_none() {
                output::remove_empty_partitions(&opts.out)?;
            }
            self.summary.output.replaced_files = older.len() as u64;
            // The data earlier --incremental runs recorded is gone: so are their records, or
            // a later --incremental run would skip those inputs and never bring it back.
            state::forget_all(dest)?;
        }
        Ok(self.summary)
    }

    /// The rows of every partition, prepared as `write_parquet` would write them.
    fn into_batches(mut self, opts: &Options) -> Result<(Vec<RecordBatch>, Summary)> {
        let prepared: Vec<_> = self
            .take_partitions()
            .into_par_iter()
            .map(|(_, partition)| {
                let mut batches = Vec::new();
                let run = output::sorted_run(partition.batches)?;
                let existing = EventIds::default();
                let dropped =
                    output::merge::merge(vec![run], opts.keep_duplicates, existing, |b| {
                        batches.push(b);
                        Ok(())
                    })?;
                Ok((batches, dropped))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut batches = Vec::new();
        for (partition, dropped) in prepared {
            self.count_duplicates(dropped);
            batches.extend(partition);
        }
        Ok((batches, self.summary))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// JSON Lines of `rows` records on the given days of January 2024, in turn; the first has
    /// a `readOnly` of the wrong type.
    fn lines(rows: usize, days: usize) -> String {
        (0..rows)
            .map(|i| {
                let read_only = if i == 0 { r#""yes""# } else { "true" };
                format!(
                    r#"{{"eventTime":"2024-01-{:02}T00:00:00Z","eventID":"{i}","eventSource":"kms.amazonaws.com","readOnly":{read_only}}}"#,
                    1 + i % days
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn row_counts(parts: &[(String, RecordBatch)]) -> Vec<(&str, usize)> {
        let mut counts: Vec<_> = parts
            .iter()
            .map(|(p, b)| (p.as_str(), b.num_rows()))
            .collect();
        counts.sort();
        counts
    }

    #[test]
    fn a_workers_rows_reach_the_state_in_batches_not_a_file_at_a_time() {
        let opts = Options {
            sources: SourceFilter::All,
            ..Options::new(Vec::new(), "unused".into())
        };
        let file = lines(100, 1) + "\n" + &lines(1, 1).replace("-01T", "-02T");
        let mut pending = PendingRows::default();
        let mut handed = Vec::new();
        let mut mismatches = 0;
        for _ in 0..25 {
            let converted = convert_text(&file, "f", &opts, &mut pending, &mut |_| {
                panic!("handed over within a file of 101 rows")
            });
            assert_eq!(converted.records.kept, 101);
            let flushed = pending.take_full();
            mismatches += flushed.mismatches.iter().map(|(_, n)| n).sum::<u64>();
            handed.extend(flushed.parts);
        }
        // The 21st file takes the first day past BATCH_ROWS: its 2,100 rows go as one batch.
        assert_eq!(row_counts(&handed), [("event_date=2024-01-01", 2100)]);
        let rest = pending.finish();
        assert_eq!(
            row_counts(&rest.parts),
            [
                ("event_date=2024-01-01", 400),
                ("event_date=2024-01-02", 25)
            ]
        );
        mismatches += rest.mismatches.iter().map(|(_, n)| n).sum::<u64>();
        assert_eq!(
            mismatches, 50,
            "every file's mismatched readOnly values are counted"
        );

        // A partition handed over and given no rows since leaves no empty batch behind.
        let mut pending = PendingRows::default();
        convert_text(&lines(BATCH_ROWS, 1), "f", &opts, &mut pending, &mut |_| {});
        assert_eq!(pending.take_full().parts.len(), 1);
        assert!(pending.finish().parts.is_empty());
    }

    #[test]
    fn a_worker_holding_many_partitions_hands_them_all_over() {
        let opts = Options {
            sources: SourceFilter::All,
            ..Options::new(Vec::new(), "unused".into())
        };
        let mut pending = PendingRows::default();
        let mut handed = Vec::new();
        convert_text(
            &lines(MAX_PENDING_ROWS - 28, 28),
            "f",
            &opts,
            &mut pending,
            &mut |f| handed.push(f),
        );
        assert!(handed.is_empty() && pending.take_full().parts.is_empty());
        convert_text(&lines(28, 28), "g", &opts, &mut pending, &mut |f| {
            handed.push(f)
        });
        assert_eq!(handed.len(), 1, "handed over within the file");
        let flushed = &handed[0];
        assert_eq!(flushed.parts.len(), 28);
        let rows: usize = flushed.parts.iter().map(|(_, b)| b.num_rows()).sum();
        assert_eq!(rows, MAX_PENDING_ROWS);
        assert!(pending.take_full().parts.is_empty());
        assert!(pending.finish().parts.is_empty());
    }

    #[test]
    fn a_file_of_many_small_records_is_handed_over_as_it_is_read() {
        let opts = Options {
            sources: SourceFilter::All,
            ..Options::new(Vec::new(), "unused".into())
        };
        let mut pending = PendingRows::default();
        let mut most_held = 0;
        let mut handed_rows = 0;
        let converted = convert_text(
            &lines(10 * MAX_PENDING_ROWS + 5, 3),
            "big",
            &opts,
            &mut pending,
            &mut |f| {
                handed_rows += f.parts.iter().map(|(_, b)| b.num_rows()).sum::<usize>();
                most_held = most_held.max(f.parts.iter().map(|(_, b)| b.num_rows()).sum());
            },
        );
        assert_eq!(converted.records.kept as usize, 10 * MAX_PENDING_ROWS + 5);
        assert!(most_held <= MAX_PENDING_ROWS, "{most_held}");
        let rest: usize = pending
            .finish()
            .parts
            .iter()
            .map(|(_, b)| b.num_rows())
            .sum();
        assert_eq!(handed_rows + rest, 10 * MAX_PENDING_ROWS + 5);
        assert!(rest < MAX_PENDING_ROWS);
    }

    #[test]
    fn prefilter_never_drops_an_admitted_record() {
        let f = SourceFilter::default();
        let p = f.prefilter();
        assert!(p.may_admit(r#"{"eventSource":"cloudhsm.amazonaws.com"}"#));
        assert!(p.may_admit(r#"{"eventSource":"cloudhsm\u002eamazonaws.com"}"#));
        assert!(!p.may_admit(r#"{"eventSource":"kms.amazonaws.com"}"#));
        assert!(SourceFilter::All.prefilter().may_admit("{}"));
    }

    proptest::proptest! {
        #[test]
        fn unicode_escapes_are_where_the_pair_is(text in "[\\\\ua\"]{0,40}") {
            let pair: Vec<usize> = memchr::memmem::find_iter(text.as_bytes(), b"\\u").collect();
            let found: Vec<usize> = unicode_escapes(text.as_bytes()).collect();
            proptest::prop_assert_eq!(found, pair);
        }
    }

    #[test]
    fn file_prefilter_answers_like_the_record_one() {
        let p = SourceFilter::default().prefilter();
        let file = r#"[{"eventSource":"kms.amazonaws.com"},{"e":"cloudhsm.amazonaws.com"},{"a":"cloudhsm.amazon"},{"b":"aws.com","c":"\u0041"}]"#;
        let f = p.over(file);
        let mut starts = file.match_indices('{').map(|(i, _)| i).peekable();
        while let Some(start) = starts.next() {
            let end = starts.peek().map_or(file.len() - 1, |next| next - 1);
            let record = &file[start..end];
            assert_eq!(f.may_admit(record, true), p.may_admit(record), "{record}");
        }
        // Spanning two records is not a hit in either.
        let spanning = &file[file.find(r#"{"a""#).unwrap()..file.find(r#""b""#).unwrap()];
        assert!(!f.may_admit(spanning, true));
        // Text from elsewhere is searched itself.
        let elsewhere = String::from(r#"{"eventSource":"cloudhsm.amazonaws.com"}"#);
        assert!(f.may_admit(&elsewhere, false));
        assert!(
            SourceFilter::All
                .prefilter()
                .over(file)
                .may_admit("{}", false)
        );
        // A record the reader saw no `\u` in is not searched for one.
        let escaped = &file[file.find(r#"{"b""#).unwrap()..file.len() - 1];
        assert!(f.may_admit(escaped, true));
        assert!(!f.may_admit(escaped, false));
        let named = &file[file.find(r#"{"e""#).unwrap()..file.find(r#",{"a""#).unwrap()];
        assert!(f.may_admit(named, false));
    }

    #[test]
    fn trail_byte_ranks_are_distinct() {
        use memchr::arch::all::packedpair::HeuristicFrequencyRank;
        let ranks: Vec<u8> = TrailByteRank::BY_FREQUENCY
            .iter()
            .map(|&b| TrailByteRank.rank(b))
            .collect();
        assert!(ranks.windows(2).all(|w| w[0] > w[1]), "a byte listed twice");
        assert!(TrailByteRank.rank(b'h') < TrailByteRank.rank(b'a'));
        assert_eq!(TrailByteRank.rank(0xff), 0);
    }

    #[test]
    fn accounts_fall_back_to_the_caller() {
        let r = RawRecord::parse(r#"{"userIdentity":{"accountId":"123"}}"#).unwrap();
        assert_eq!(account_of(&r).as_deref(), Some("123"));
        let r = RawRecord::parse(r#"{"recipientAccountId":"9","userIdentity":{"accountId":"1"}}"#)
            .unwrap();
        assert_eq!(account_of(&r).as_deref(), Some("9"));
        assert_eq!(account_of(&RawRecord::parse("{}").unwrap()), None);
    }
}
