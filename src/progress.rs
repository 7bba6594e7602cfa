//! What a long command tells its user while it runs. The library only reports through this
//! trait and prints nothing itself; the command line decides how to show it (a progress bar
//! and warnings on a terminal, nothing with `--quiet`), and a program using the library as a
//! crate can log it, count it or ignore it.

use std::path::Path;

use crate::convert::Severity;

/// Reports from a running conversion or compaction. Every method has a default that ignores
/// it; workers call these from several threads at once.
pub trait Progress: Sync {
    /// The work ahead: the stored bytes of every input.
    fn start(&self, _total_bytes: u64) {}

    /// An input done: its stored bytes, and where the run stands, in words.
    fn advance(&self, _bytes: u64, _status: &str) {}

    /// A problem with a file, now (the summary lists it again at the end).
    fn warn(&self, _file: &str, _reason: &str, _severity: Severity) {}

    /// Another run holds the output's lock; this one waits for it.
    fn waiting(&self, _output: &Path) {}

    /// The inputs are all read.
    fn finish(&self) {}
}

/// Shows nothing.
pub struct Silent;

impl Progress for Silent {}
