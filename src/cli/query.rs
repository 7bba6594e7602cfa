//! `hsmtrail query`: ad-hoc SQL over the same `events` table the reports use.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::scope::{PrintArgs, ScopeArgs};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The SQL to run over the tables `events` and `hsm_audit`.
    #[arg(
        value_name = "SQL",
        required_unless_present = "file",
        conflicts_with = "file"
    )]
    sql: Option<String>,

    /// Read the SQL from this file.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,

    #[command(flatten)]
    scope: ScopeArgs,

    #[command(flatten)]
    print: PrintArgs,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let sql = match (&args.sql, &args.file) {
        (Some(sql), _) => sql.clone(),
        (None, Some(file)) => {
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
        }
        (None, None) => unreachable!("clap requires one"),
    };
    let engine = args
        .scope
        .engine(args.scope.data()?, &args.scope.scope()?)?;
    args.scope.print(&engine, &sql, &args.print)?;
    Ok(ExitCode::SUCCESS)
}
