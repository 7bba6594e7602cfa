//! The command line: one module per subcommand, each parsing its arguments and calling the
//! library.

mod check;
mod compact;
mod convert;
mod filter;
mod progress;
mod query;
mod report;
mod reports;
mod s3;
mod schema;
mod scope;
mod verify;

use std::process::ExitCode;

use anyhow::Result;

use crate::error::UsageError;
use clap::{Parser, Subcommand};

/// Convert archived AWS CloudTrail logs into partitioned Parquet and audit AWS CloudHSM.
#[derive(Debug, Parser)]
#[command(name = "hsmtrail", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Convert CloudTrail files (and CloudHSM audit logs) into Hive-partitioned Parquet.
    Convert(Box<convert::Args>),
    /// Merge each partition's small files into sorted, de-duplicated files of a target size.
    Compact(compact::Args),
    /// Print the output schema, one line a column with its description.
    Schema(schema::Args),
    /// List the bundled reports.
    Reports(reports::Args),
    /// Run a bundled report over the converted data (or raw trail files with --input).
    Report(Box<report::Args>),
    /// Run SQL over the converted data (tables `events` and `hsm_audit`).
    Query(Box<query::Args>),
    /// Run the bundled security checks; exit 3 when a finding is at or above --fail-on.
    Check(Box<check::Args>),
    /// Prove from CloudTrail's signed digests that an archive is complete and untampered.
    Verify(Box<verify::Args>),
}

/// Runs the parsed command; the exit code says whether the run was clean.
///
/// A reader that closes standard output early (`hsmtrail report changes | head -3`) ends the
/// run quietly with exit code 0, as ripgrep does; a [`UsageError`] exits with 2 like clap's.
pub fn run(cli: Cli) -> Result<ExitCode> {
    crate::output::lock::clean_up_on_interrupt()?;
    // A file size limit (RLIMIT_FSIZE) is a full disk to us: a write that fails with an error
    // naming the file, not a process killed by SIGXFSZ halfway through.
    // SAFETY: setting a signal's disposition to "ignore" has no preconditions.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let name = cli.command.name();
    let result = match cli.command {
        Command::Convert(args) => convert::run(*args),
        Command::Compact(args) => compact::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Reports(args) => reports::run(args),
        Command::Report(args) => report::run(*args),
        Command::Query(args) => query::run(*args),
        Command::Check(args) => check::run(*args),
        Command::Verify(args) => verify::run(*args),
    };
    match result {
        Err(_) if crate::output::reader_gone() => Ok(ExitCode::SUCCESS),
        Err(e) => match e.downcast_ref::<UsageError>() {
            Some(usage) => usage_error(name, usage),
            None => Err(e),
        },
        ok => ok,
    }
}

/// Standard output for results: notes when the reader has gone (see
/// [`crate::output::ReaderAware`]), so that the error that follows, however a library reports
/// it, ends the run quietly.
pub(crate) fn stdout() -> crate::output::ReaderAware<std::io::StdoutLock<'static>> {
    crate::output::ReaderAware(std::io::stdout().lock())
}

impl Command {
    /// The subcommand's name, as typed.
    fn name(&self) -> &'static str {
        match self {
            Command::Convert(_) => "convert",
            Command::Compact(_) => "compact",
            Command::Schema(_) => "schema",
            Command::Reports(_) => "reports",
            Command::Report(_) => "report",
            Command::Query(_) => "query",
            Command::Check(_) => "check",
            Command::Verify(_) => "verify",
        }
    }
}

/// A usage error of the running subcommand (see [`run`]).
fn usage(message: impl std::fmt::Display) -> anyhow::Error {
    UsageError(message.to_string()).into()
}

/// Stops with a usage error (exit code 2), in clap's format, with the subcommand's usage.
fn usage_error(subcommand: &str, message: impl std::fmt::Display) -> ! {
    use clap::CommandFactory;
    let mut command = Cli::command();
    command.build();
    let command = command
        .find_subcommand_mut(subcommand)
        .expect("a subcommand of ours");
    command
        .error(clap::error::ErrorKind::ValueValidation, message)
        .exit()
}
