//! Options shared by `report` and `query`: where the data is, which events, how to print.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::convert::{self, Options, SourceFilter};
use crate::filter::EventFilter;
use crate::output::destination::OutputLocation;
use crate::output::write_user_file;
use crate::report::baseline::{Baseline, BaselineFile};
use crate::report::results::{self, ResultFormat};
use crate::report::session::{Data, Engine};
use crate::time::{self, Bound};

/// The converter's default output directory, which `report` and `query` read by default.
pub const DEFAULT_DATA: &str = "hsmtrail-out";

#[derive(Debug, clap::Args)]
pub struct ScopeArgs {
    /// The converter's output: a folder, s3://bucket/prefix/, or one Parquet file.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA)]
    pub data: String,

    #[command(flatten)]
    pub filter: super::filter::FilterArgs,

    #[command(flatten)]
    pub s3: super::s3::S3Args,

    /// The JSON output of `aws cloudhsmv2 describe-clusters` or `describe-backups`
    /// (repeatable): counts derived from events start from it instead of from the first event.
    #[arg(long = "baseline", value_name = "FILE")]
    pub baselines: Vec<PathBuf>,

    /// When the --baseline files were taken (default: each file's modification time).
    #[arg(long, value_parser = Bound::parse, value_name = "TIME", requires = "baselines")]
    pub baseline_at: Option<Bound>,
}

/// How `report` and `query` print their answer.
#[derive(Debug, clap::Args)]
pub struct PrintArgs {
    /// Result format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ResultFormat,

    /// Write the results to this file (complete or not at all) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Trail files to read in memory instead of converted data (`report` and `check`).
#[derive(Debug, clap::Args)]
pub struct InputArgs {
    /// Convert these trail files in memory and work on them, writing no Parquet.
    #[arg(long, value_name = "TRAIL", num_args = 1.., conflicts_with = "data")]
    pub input: Vec<String>,

    /// With --input: keep events of every source, not only CloudHSM and those about it.
    #[arg(long, requires = "input")]
    pub all_sources: bool,
}

impl InputArgs {
    /// The rows of `--input` converted in memory with `scope`, or the converted output
    /// `--data` names.
    pub fn data(&self, scope_args: &ScopeArgs, scope: &EventFilter) -> Result<Data> {
        if self.input.is_empty() {
            return scope_args.data();
        }
        let sources = if self.all_sources {
            SourceFilter::All
        } else {
            SourceFilter::default()
        };
        let opts = Options {
            filter: EventFilter {
                sources,
                ..scope.clone()
            },
            s3: scope_args.s3.options(),
            ..Options::new(self.input.clone(), std::env::temp_dir())
        };
        let (rows, summary) = convert::run_in_memory(&opts, &super::progress::Bar::new(false))?;
        crate::say!(
            "hsmtrail: read {} files in memory: {} events and {} HSM audit entries kept, {} rejected",
            summary.files.total,
            summary.records.kept - summary.records.audit_entries,
            summary.records.audit_entries,
            summary.records.rejected
        );
        Ok(Data::Rows(rows))
    }
}

impl ScopeArgs {
    /// Which events the query sees: every source in the data, within the window, accounts
    /// and regions given.
    pub fn scope(&self) -> Result<EventFilter> {
        self.filter.filter(SourceFilter::All)
    }

    /// The `--baseline` tables (empty without one).
    pub fn baseline(&self) -> Result<Baseline> {
        let files: Vec<BaselineFile> = self
            .baselines
            .iter()
            .map(|path| BaselineFile {
                path: path.clone(),
                taken_at: self.baseline_at.map(|b| b.start),
            })
            .collect();
        Baseline::read(&files)
    }

    /// Opens the session over `data` with `scope` and the baseline.
    pub fn engine(&self, data: Data, scope: &EventFilter) -> Result<Engine> {
        Engine::open(data, scope, &self.baseline()?)
    }

    /// The converted output `--data` names.
    pub fn data(&self) -> Result<Data> {
        let location = OutputLocation::parse(&self.data).map_err(super::usage)?;
        Ok(Data::Parquet(location, self.s3.options()))
    }

    /// Runs `sql` and writes its results where and how the user asked. An answer with no rows
    /// because the window holds no events at all says so on stderr, with the data's span.
    pub fn print(&self, engine: &Engine, sql: &str, how: &PrintArgs) -> Result<()> {
        let stream = engine.stream(sql)?;
        let mut rows = 0;
        write_results(how.output.as_deref(), |out| {
            rows = engine.block_on(results::write(stream, how.format, out))?;
            Ok(())
        })?;
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

/// Writes results to standard output, or to `output` complete or not at all.
pub fn write_results(
    output: Option<&Path>,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    match output {
        None => {
            let mut out = std::io::BufWriter::new(super::stdout());
            write(&mut out)?;
            out.flush()?;
        }
        Some(path) => write_user_file(path, |file| {
            let mut out = std::io::BufWriter::new(file);
            write(&mut out)?;
            out.flush()?;
            Ok(())
        })?,
    }
    Ok(())
}

/// `key=value` pairs of `--param`.
pub fn parse_params(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                .ok_or_else(|| super::usage(format!("--param takes key=value, not '{pair}'")))
        })
        .collect()
}
