use std::process::ExitCode;

use clap::Parser;

/// mimalloc: less memory and less time than the system allocator for this workload of
/// per-file buffers freed by one worker and reused by another (benches/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Keeps freed memory in the process for the next file's buffers instead of returning it to
/// the OS and faulting it in again, which cost a quarter of a dense conversion in system time.
/// Peak memory is unchanged: memory is only kept, never added.
fn keep_freed_memory() {
    /// mimalloc v3's `mi_option_purge_delay` (not among the crate's named constants).
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: setting an option has no preconditions; -1 means "never purge".
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) }
}

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = hsmtrail::cli::Cli::parse();
    let result = hsmtrail::cli::run(cli);
    if hsmtrail::output::lock::interrupted() {
        // The signal handler is cleaning up and exits with 128 + the signal; whatever the run
        // made of files vanishing under it is not worth reporting.
        loop {
            std::thread::park();
        }
    }
    match result {
        Ok(code) => code,
        Err(e) => {
            hsmtrail::say!("hsmtrail: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
