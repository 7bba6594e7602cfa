//! `hsmtrail report NAME`: run one bundled report over the converted data, or straight over
//! raw trail files with `--input`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Result, bail};

use super::scope::{InputArgs, PrintArgs, ScopeArgs, parse_params};
use crate::report::catalogue;
use crate::time;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The report to run (`hsmtrail reports` lists them).
    name: String,

    /// A report parameter, key=value (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,

    #[command(flatten)]
    input: InputArgs,

    /// Print the SQL that would run (parameters filled in) instead of running it.
    #[arg(long)]
    sql: bool,

    #[command(flatten)]
    scope: ScopeArgs,

    #[command(flatten)]
    print: PrintArgs,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let report = catalogue::find(&args.name)?;
    let mut params = parse_params(&args.params)?;
    let mut scope = args.scope.scope()?;
    // A report that compares a window with what came before it takes --since as a parameter
    // and must see the events before it too.
    if report.template.takes("since")
        && let Some(since) = scope.since.take()
    {
        if params.contains_key("since") {
            bail!("give the window start once: --since or --param since=...");
        }
        params.insert("since".into(), time::render_millis(since.start));
    }
    let sql = report.template.render(&params)?;
    if args.sql {
        writeln!(super::stdout(), "{sql}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let data = args.input.data(&args.scope, &scope)?;
    let engine = args.scope.engine(data, &scope)?;
    args.scope.print(&engine, &sql, &args.print)?;
    Ok(ExitCode::SUCCESS)
}
