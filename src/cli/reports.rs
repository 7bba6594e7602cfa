//! `hsmtrail reports`: the bundled reports, one line each.

use std::process::ExitCode;

use anyhow::Result;

use crate::report::catalogue;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> Result<ExitCode> {
    let reports = catalogue::reports();
    let width = reports.iter().map(|r| r.name.len()).max().unwrap_or(0);
    for r in reports {
        println!("{:width$}  {}: {}", r.name, r.title, r.description);
        for p in &r.params {
            let default = p
                .default
                .as_deref()
                .map(|d| format!(" (default {d})"))
                .unwrap_or_default();
            println!(
                "{:width$}    --param {}=...  {}{default}",
                "", p.name, p.description
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
