//! Options shared by `report` and `query`: where the data is, which events, how to print.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::output::write_user_file;
use crate::report::output::{self, Format};
use crate::report::session::{Engine, Scope};
use crate::time::Bound;

/// The converter's default output directory, which `report` and `query` read by default.
pub const DEFAULT_DATA: &str = "hsmtrail-out";

#[derive(Debug, clap::Args)]
pub struct ScopeArgs {
    /// The converter's output: a directory tree or one Parquet file.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA)]
    pub data: PathBuf,

    /// Only events at or after this time (2024-01-31 or 2024-01-31T12:00:00Z).
    #[arg(long, value_parser = Bound::parse, value_name = "TIME")]
    pub since: Option<Bound>,

    /// Only events at or before this time; a date includes that whole day.
    #[arg(long, value_parser = Bound::parse, value_name = "TIME")]
    pub until: Option<Bound>,

    /// Only events of this account (repeatable).
    #[arg(long = "account", value_name = "ID")]
    pub accounts: Vec<String>,

    /// Only events of this region (repeatable).
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,

    /// Result format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,

    /// Write the results to this file (complete or not at all) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

impl ScopeArgs {
    pub fn scope(&self) -> Scope {
        Scope {
            since: self.since,
            until: self.until,
            accounts: self.accounts.clone(),
            regions: self.regions.clone(),
        }
    }

    /// Runs `sql` and writes its results where and how the user asked.
    pub fn print(&self, engine: &Engine, sql: &str) -> Result<()> {
        let stream = engine.stream(sql)?;
        match &self.output {
            None => {
                let mut out = std::io::BufWriter::new(super::stdout());
                engine.block_on(output::write(stream, self.format, &mut out))?;
                out.flush()?;
            }
            Some(path) => {
                write_user_file(path, |file| {
                    let mut out = std::io::BufWriter::new(file);
                    engine.block_on(output::write(stream, self.format, &mut out))?;
                    out.flush()?;
                    Ok(())
                })
                .with_context(|| format!("writing {}", path.display()))?;
            }
        }
        Ok(())
    }
}

/// `key=value` pairs of `--param`.
pub fn parse_params(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                .with_context(|| format!("--param takes key=value, not '{pair}'"))
        })
        .collect()
}
