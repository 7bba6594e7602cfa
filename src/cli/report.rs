//! `hsmtrail report NAME`: run one bundled report over the converted data, or straight over
//! raw trail files with `--input`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Result, bail};

use super::scope::{ScopeArgs, parse_params};
use crate::convert::{self, Options};
use crate::filter::EventFilter;
use crate::report::catalogue;
use crate::report::session::{Data, Engine};
use crate::time;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The report to run (`hsmtrail reports` lists them).
    name: String,

    /// A report parameter, key=value (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,

    /// Convert these trail files in memory and report on them, writing no Parquet.
    #[arg(long, value_name = "TRAIL", num_args = 1.., conflicts_with = "data")]
    input: Vec<String>,

    /// With --input: keep events of every source, not only CloudHSM.
    #[arg(long, requires = "input")]
    all_sources: bool,

    /// Print the SQL that would run (parameters filled in) instead of running it.
    #[arg(long)]
    sql: bool,

    #[command(flatten)]
    scope: ScopeArgs,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let report = catalogue::find(&args.name)?;
    let mut params = parse_params(&args.params)?;
    let mut scope = args.scope.scope()?;
    // A report that compares a window with what came before it takes --since as a parameter
    // and must see the events before it too.
    if report.takes("since")
        && let Some(since) = scope.since.take()
    {
        if params.contains_key("since") {
            bail!("give the window start once: --since or --param since=...");
        }
        params.insert("since".into(), time::render_millis(since.start));
    }
    let sql = report.render(&params)?;
    if args.sql {
        writeln!(super::stdout(), "{sql}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let data = if args.input.is_empty() {
        args.scope.data()?
    } else {
        let sources = if args.all_sources {
            convert::SourceFilter::All
        } else {
            convert::SourceFilter::default()
        };
        let opts = Options {
            filter: EventFilter {
                sources,
                ..scope.clone()
            },
            s3: args.scope.s3.options(),
            ..Options::new(args.input.clone(), std::env::temp_dir())
        };
        let (rows, summary) = convert::run_in_memory(&opts, &super::progress::Bar::new(false))?;
        crate::say!(
            "hsmtrail: read {} files in memory: {} events kept, {} rejected",
            summary.files.total,
            summary.records.kept,
            summary.records.rejected
        );
        Data::Rows(rows)
    };
    let engine = Engine::open(data, &scope)?;
    args.scope.print(&engine, &sql)?;
    Ok(ExitCode::SUCCESS)
}
