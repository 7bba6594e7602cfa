//! `hsmtrail reports`: the bundled reports, one line each.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

use crate::report::catalogue;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> Result<ExitCode> {
    let reports = catalogue::reports();
    let width = reports.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let mut out = super::stdout();
    for r in reports {
        writeln!(out, "{:width$}  {}: {}", r.name, r.title, r.description)?;
        for p in &r.template.params {
            let default = p
                .default
                .as_deref()
                .map(|d| format!(" (default {d})"))
                .unwrap_or_default();
            writeln!(
                out,
                "{:width$}    --param {}=...  {}{default}",
                "", p.name, p.description
            )?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
