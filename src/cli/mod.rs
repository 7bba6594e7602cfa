//! The command line: one module per subcommand, each parsing its arguments and calling the
//! library.

mod convert;
mod schema;

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
    /// Print the output schema, one line a column with its description.
    Schema(schema::Args),
}

/// Runs the parsed command; the exit code says whether the run was clean.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Convert(args) => convert::run(*args),
        Command::Schema(args) => schema::run(args),
    }
}

/// Stops with a usage error (exit code 2), in clap's format.
fn usage_error(message: impl std::fmt::Display) -> ! {
    use clap::CommandFactory;
    Cli::command()
        .error(clap::error::ErrorKind::ValueValidation, message)
        .exit()
}
