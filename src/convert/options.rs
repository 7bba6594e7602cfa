//! What a conversion is asked to do: the inputs and which part of them, the output, the events
//! kept, how the output is written, and the limits of the run.

use crate::filter::EventFilter;
use crate::input;
use crate::output::Compression;
use crate::output::destination::OutputLocation;
use crate::output::partition::Layout;
use crate::remote::S3Options;

/// Default bound on one file's decompressed size: CloudTrail delivery files are at most tens of
/// MB, so 2 GiB only stops bombs.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 2 << 30;

/// Default for [`Limits::memory_budget`]: 128 MiB of rows, which keeps a whole `--all-sources`
/// run under 600 MiB of peak memory with the merge and the writer on top (benches/RESULTS.md).
pub const DEFAULT_MEMORY_BUDGET: usize = 128 << 20;

/// Everything a conversion needs to know.
#[derive(Debug, Clone)]
pub struct Options {
    pub inputs: Vec<String>,
    /// Convert only this part of the inputs (for N machines sharing one archive).
    pub shard: Option<input::Shard>,
    /// Where the Parquet goes: a folder, or an S3 prefix (written through a local staging
    /// folder, see [`crate::output::destination`]).
    pub output: OutputLocation,
    /// The events kept.
    pub filter: EventFilter,
    pub write: WriteSettings,
    pub limits: Limits,
    /// How to reach S3, for `s3://` inputs and output.
    pub s3: S3Options,
    /// With `convert --verify`: which input files a digest proven by its signature lists
    /// with their exact hash, for the `source_verified` column; `None` leaves it null.
    pub verified: Option<std::sync::Arc<Verified>>,
}

/// The log files a verification proved, by their key from `AWSLogs/` on.
#[derive(Debug, Default)]
pub struct Verified {
    pub proven: std::collections::HashSet<String>,
}

impl Verified {
    /// `source_verified` for an input named `name` (a path or `s3://` URL).
    pub fn of(&self, name: &str) -> bool {
        crate::verify::archive_key(name).is_some_and(|key| self.proven.contains(key))
    }
}

/// How the output is written.
#[derive(Debug, Clone, Default)]
pub struct WriteSettings {
    pub compression: Compression,
    pub layout: Layout,
    /// Replace what the output held (after the new data is written).
    pub overwrite: bool,
    /// Write every copy of a repeated event, not the first alone.
    pub keep_duplicates: bool,
    /// Skip inputs an earlier run converted (as recorded in the output's `_hsmtrail/inputs/`),
    /// and record this run's.
    pub incremental: bool,
    /// Write table definitions into the output's `_hsmtrail/`.
    pub table_definitions: Option<TableDefinitions>,
}

/// The table definitions written beside the data.
#[derive(Debug, Clone, Default)]
pub struct TableDefinitions {
    /// Where Athena should find the data (`s3://...`), when it is not the output itself.
    pub athena_location: Option<String>,
}

/// What a run may use.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Worker threads; `None` uses every core.
    pub jobs: Option<usize>,
    /// Largest decompressed (or stored) size of one input file.
    pub max_file_bytes: u64,
    /// Bytes of converted rows held in memory before the largest partition is spilled to disk
    /// as a sorted run; bounds memory whatever the archive's size.
    pub memory_budget: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            jobs: None,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            memory_budget: DEFAULT_MEMORY_BUDGET,
        }
    }
}

impl Options {
    /// Options with the documented defaults for these inputs and output.
    pub fn new(inputs: Vec<String>, output: impl Into<OutputLocation>) -> Self {
        Options {
            inputs,
            shard: None,
            output: output.into(),
            filter: EventFilter::default(),
            write: WriteSettings::default(),
            limits: Limits::default(),
            s3: S3Options::default(),
            verified: None,
        }
    }
}
