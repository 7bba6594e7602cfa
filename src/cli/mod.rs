//! The command line: one module per subcommand, each parsing its arguments and calling the
//! library.

mod compact;
mod convert;
mod query;
mod report;
mod reports;
mod schema;
mod scope;

use std::process::ExitCode;

use anyhow::Result;
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
    /// Convert CloudTrail files into Hive-partitioned Parquet.
    Convert(Box<convert::Args>),
    /// Merge each partition's small files into sorted, de-duplicated files of a target size.
    Compact(compact::Args),
    /// Print the output schema, one line a column with its description.
    Schema(schema::Args),
    /// List the bundled reports.
    Reports(reports::Args),
    /// Run a bundled report over the converted data (or raw trail files with --input).
    Report(Box<report::Args>),
    /// Run SQL over the converted data (table `events`).
    Query(Box<query::Args>),
}

/// Runs the parsed command; the exit code says whether the run was clean.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Convert(args) => convert::run(*args),
        Command::Compact(args) => compact::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Reports(args) => reports::run(args),
        Command::Report(args) => report::run(*args),
        Command::Query(args) => query::run(*args),
    }
}

/// Stops with a usage error (exit code 2), in clap's format.
fn usage_error(message: impl std::fmt::Display) -> ! {
    use clap::CommandFactory;
    Cli::command()
        .error(clap::error::ErrorKind::ValueValidation, message)
        .exit()
}
