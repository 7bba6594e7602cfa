//! `hsmtrail reports`: the bundled reports, one line each.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

use crate::report::catalogue::{self, Param};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> Result<ExitCode> {
    let reports = catalogue::reports();
    let width = reports.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let mut out = super::stdout();
    for r in reports {
        writeln!(out, "{:width$}  {}: {}", r.name, r.title, r.description)?;
        print_params(&mut out, &r.template.params, width + 4)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// One `--param NAME=...  description (default D)` line a parameter, indented by `indent`:
/// how `reports` and `check --list` show what a query takes.
pub fn print_params(out: &mut dyn Write, params: &[Param], indent: usize) -> Result<()> {
    for p in params {
        let default = p
            .default
            .as_deref()
            .map(|d| format!(" (default {d})"))
            .unwrap_or_default();
        writeln!(
            out,
            "{:indent$}--param {}=...  {}{default}",
            "", p.name, p.description
        )?;
    }
    Ok(())
}
