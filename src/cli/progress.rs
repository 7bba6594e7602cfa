//! The command line's [`Progress`]: a progress bar on a terminal and warnings on stderr, both
//! silent with `--quiet`.

use std::io::IsTerminal;
use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::convert::Severity;
use crate::progress::Progress;

pub struct Bar {
    bar: ProgressBar,
    quiet: bool,
}

impl Bar {
    pub fn new(quiet: bool) -> Self {
        let target = if quiet || !std::io::stderr().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {elapsed} [{bar:20}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        Bar { bar, quiet }
    }
}

impl Progress for Bar {
    fn start(&self, total_bytes: u64) {
        self.bar.set_length(total_bytes);
    }

    fn advance(&self, bytes: u64, status: &str) {
        self.bar.inc(bytes);
        self.bar.set_message(status.to_owned());
    }

    /// Files skipped as expected (digests, other services' logs) come by the thousand in a
    /// real archive: they are counted in the summary, not announced.
    fn warn(&self, file: &str, reason: &str, severity: Severity) {
        if !self.quiet && severity > Severity::Skipped {
            self.bar
                .suspend(|| crate::say!("hsmtrail: {severity}: {file}: {reason}"));
        }
    }

    fn waiting(&self, output: &Path) {
        if !self.quiet {
            self.bar.suspend(|| {
                crate::say!(
                    "hsmtrail: waiting for another run writing into {} to finish",
                    output.display()
                )
            });
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
