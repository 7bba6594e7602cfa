//! What a conversion is asked to do: the inputs, the output and how to write it, the filter
//! and the limits.

use std::path::PathBuf;

use crate::filter::EventFilter;
use crate::input;
use crate::output::Compression;
use crate::output::partition::Layout;
use crate::remote::{S3Options, S3Url};

/// Default bound on one file's decompressed size: CloudTrail delivery files are at most tens of
/// MB, so 2 GiB only stops bombs.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 2 << 30;

/// Default for [`Options::memory_budget`]: 128 MiB of rows, which keeps a whole `--all-sources`
/// run under 600 MiB of peak memory with the merge and the writer on top (benches/RESULTS.md).
pub const DEFAULT_MEMORY_BUDGET: usize = 128 << 20;

/// Everything a conversion needs to know.
#[derive(Debug, Clone)]
pub struct Options {
    pub inputs: Vec<String>,
    pub out: PathBuf,
    /// The events kept.
    pub filter: EventFilter,
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
    /// Options with the documented defaults for these inputs and output directory.
    pub fn new(inputs: Vec<String>, out: PathBuf) -> Self {
        Options {
            inputs,
            out,
            filter: EventFilter::default(),
            jobs: None,
            compression: Compression::default(),
            layout: Layout::default(),
            overwrite: false,
            keep_duplicates: false,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            shard: None,
            publish: None,
            s3: S3Options::default(),
            incremental: false,
            write_ddl: None,
        }
    }
}
