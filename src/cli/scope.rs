//! Options shared by `report` and `query`: where the data is, which events, how to print.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::output::write_user_file;
use crate::report::output::{self, Format};
use crate::report::session::{Engine, Scope};
use crate::time::{self, Bound};

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
    /// Which events the query sees; an empty window (`--since` after `--until`) is a usage
    /// error rather than an empty answer.
    pub fn scope(&self) -> Result<Scope> {
        if let (Some(since), Some(until)) = (self.since, self.until)
            && since.start > until.last_ms()
        {
            return Err(super::usage(format!(
                "--since {} is after --until {}: no event can be in that window",
                time::render_millis(since.start),
                time::render_millis(until.last_ms())
            )));
        }
        Ok(Scope {
            since: self.since,
            until: self.until,
            accounts: self.accounts.clone(),
            regions: self.regions.clone(),
        })
    }

    /// Runs `sql` and writes its results where and how the user asked. An answer with no rows
    /// because the window holds no events at all says so on stderr, with the data's span.
    pub fn print(&self, engine: &Engine, sql: &str) -> Result<()> {
        let stream = engine.stream(sql)?;
        let rows = match &self.output {
            None => {
                let mut out = std::io::BufWriter::new(super::stdout());
                let rows = engine.block_on(output::write(stream, self.format, &mut out))?;
                out.flush()?;
                rows
            }
            Some(path) => {
                let mut rows = 0;
                write_user_file(path, |file| {
                    let mut out = std::io::BufWriter::new(file);
                    rows = engine.block_on(output::write(stream, self.format, &mut out))?;
                    out.flush()?;
                    Ok(())
                })?;
                rows
            }
        };
        if rows == 0
            && (self.since.is_some() || self.until.is_some())
            && let Some(span) = engine.span_if_window_empty()?
        {
            let bound = |b: Option<Bound>, last: bool| match b {
                Some(b) => time::render_millis(if last { b.last_ms() } else { b.start }),
                None => "any time".to_owned(),
            };
            crate::say!(
                "hsmtrail: no events between {} and {}; {span}",
                bound(self.since, false),
                bound(self.until, true)
            );
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
