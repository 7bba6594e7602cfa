//! The progress bar and warnings on stderr, both silent with `--quiet`.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::options::Options;
use super::summary::Severity;
use crate::input::Input;

/// Progress bar and warnings on stderr, both silent with `--quiet`.
pub(super) struct Notices {
    pub(super) bar: ProgressBar,
    pub(super) quiet: bool,
}

impl Notices {
    pub(super) fn new(opts: &Options, inputs: &[Input]) -> Self {
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

    pub(super) fn warn(&self, file: &str, reason: &str, severity: Severity) {
        if !self.quiet && severity > Severity::Skipped {
            self.bar
                .suspend(|| crate::say!("hsmtrail: {severity}: {file}: {reason}"));
        }
    }

    pub(super) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
