//! Options shared by `report` and `query`: where the data is, which events, how to print.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::convert::SourceFilter;
use crate::filter::EventFilter;
use crate::output::destination::OutputLocation;
use crate::output::write_user_file;
use crate::report::results::{self, ResultFormat};
use crate::report::session::{Data, Engine};
use crate::time;

/// The converter's default output directory, which `report` and `query` read by default.
pub const DEFAULT_DATA: &str = "hsmtrail-out";

#[derive(Debug, clap::Args)]
pub struct ScopeArgs {
    /// The converter's output: a folder, s3://bucket/prefix/, or one Parquet file.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA)]
    pub data: String,

    #[command(flatten)]
    pub filter: super::filter::FilterArgs,

    /// Result format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ResultFormat,

    /// Write the results to this file (complete or not at all) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub s3: super::s3::S3Args,
}

impl ScopeArgs {
    /// Which events the query sees: every source in the data, within the window, accounts
    /// and regions given.
    pub fn scope(&self) -> Result<EventFilter> {
        self.filter.filter(SourceFilter::All)
    }

    /// The converted output `--data` names.
    pub fn data(&self) -> Result<Data> {
        let location = OutputLocation::parse(&self.data).map_err(super::usage)?;
        Ok(Data::Parquet(location, self.s3.options()))
    }

    /// Runs `sql` and writes its results where and how the user asked. An answer with no rows
    /// because the window holds no events at all says so on stderr, with the data's span.
    pub fn print(&self, engine: &Engine, sql: &str) -> Result<()> {
        let stream = engine.stream(sql)?;
        let rows = match &self.output {
            None => {
                let mut out = std::io::BufWriter::new(super::stdout());
                let rows = engine.block_on(results::write(stream, self.format, &mut out))?;
                out.flush()?;
                rows
            }
            Some(path) => {
                let mut rows = 0;
                write_user_file(path, |file| {
                    let mut out = std::io::BufWriter::new(file);
                    rows = engine.block_on(results::write(stream, self.format, &mut out))?;
                    out.flush()?;
                    Ok(())
                })?;
                rows
            }
        };
        let window = self.scope()?;
        if rows == 0
            && (window.since.is_some() || window.until.is_some())
            && let Some(span) = engine.span_if_window_empty()?
        {
            let at =
                |ms: Option<i64>| ms.map_or_else(|| "any time".to_owned(), time::render_millis);
            crate::say!(
                "hsmtrail: no events between {} and {}; {span}",
                at(window.since_ms()),
                at(window.until_ms())
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
