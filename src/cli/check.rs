//! `hsmtrail check`: run the bundled detections and exit with 3 when a finding is at least
//! as severe as `--fail-on`, for cron and CI.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use super::scope::{InputArgs, ScopeArgs, parse_params, write_results};
use crate::filter::EventFilter;
use crate::report::asff;
use crate::report::checks::{self, Finding, Run, Severity};
use crate::report::results::{self, ResultFormat};

/// The exit code when a finding is at or above `--fail-on`.
pub const FINDINGS_EXIT: u8 = 3;

/// How findings are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FindingFormat {
    /// An aligned table, with a count.
    Table,
    /// JSON Lines: one finding a line.
    Json,
    /// CSV with a header line.
    Csv,
    /// A Markdown table.
    Markdown,
    /// AWS Security Finding Format: a JSON array for `aws securityhub batch-import-findings`.
    Asff,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "--since and --until choose which findings are reported; the checks still see \
                  every event, since \"first seen\" and \"shortened\" are judged against the \
                  whole history in the data."
)]
pub struct Args {
    /// List the checks (severity, what they find, parameters) instead of running them.
    #[arg(long)]
    list: bool,

    /// Run only this check (repeatable).
    #[arg(long = "only", value_name = "CHECK")]
    only: Vec<String>,

    /// Run only the checks of at least this severity.
    #[arg(long, value_enum, value_name = "SEVERITY", default_value = "info")]
    min_severity: Severity,

    /// Exit with 3 when a finding of at least this severity is found.
    #[arg(long, value_enum, value_name = "SEVERITY", default_value = "high")]
    fail_on: Severity,

    /// An account backups may be shared with (repeatable; default: the accounts in the data).
    #[arg(long = "trusted-account", value_name = "ID")]
    trusted_accounts: Vec<String>,

    /// A region backups may be copied to (repeatable; default: regions with clusters in the
    /// data).
    #[arg(long = "allowed-region", value_name = "REGION")]
    allowed_regions: Vec<String>,

    /// A check parameter, key=value (repeatable; `--list` shows them).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,

    #[command(flatten)]
    input: InputArgs,

    /// Print the SQL the checks would run (parameters filled in) instead of running them.
    #[arg(long)]
    sql: bool,

    /// Findings format.
    #[arg(long, value_enum, default_value = "table")]
    format: FindingFormat,

    /// Write the findings to this file (complete or not at all) instead of standard output.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// With --format asff: the ProductArn to file findings under (default: the account's
    /// default product, arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default).
    #[arg(long, value_name = "ARN")]
    asff_product_arn: Option<String>,

    #[command(flatten)]
    scope: ScopeArgs,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let selected = match args.only.as_slice() {
        [] => checks::checks(),
        names => names
            .iter()
            .map(|n| checks::find(n))
            .collect::<Result<_>>()?,
    };
    let selected: Vec<_> = selected
        .into_iter()
        .filter(|c| c.severity >= args.min_severity)
        .collect();
    if selected.is_empty() {
        return Err(super::usage(format!(
            "no check of those given is at or above --min-severity {}",
            args.min_severity.name()
        )));
    }
    if args.asff_product_arn.is_some() && args.format != FindingFormat::Asff {
        return Err(super::usage("--asff-product-arn goes with --format asff"));
    }
    if args.list {
        return list(&selected);
    }
    let mut params = parse_params(&args.params)?;
    checks::refuse_unknown_params(&selected, &params)?;
    // The flags' values go to the checks that take them, and to no other.
    for (name, values) in [
        ("trusted_accounts", &args.trusted_accounts),
        ("allowed_regions", &args.allowed_regions),
    ] {
        if !values.is_empty() {
            params.insert(name.to_owned(), values.join(","));
        }
    }
    let window = args.scope.scope()?;
    let run = Run {
        checks: selected,
        params: &params,
        window: &window,
    };
    if args.sql {
        return print_sql(&run, &params);
    }
    // The checks see every event of the accounts and regions asked for; the window picks the
    // findings (a "first seen" or "shortened" judgement needs what came before it).
    let history = EventFilter {
        since: None,
        until: None,
        ..window.clone()
    };
    let data = args.input.data(&args.scope, &history)?;
    let engine = args.scope.engine(data, &history)?;
    let findings = run.findings(&engine)?;
    let written = write_results(args.output.as_deref(), |out| {
        print_findings(&findings, &args, &engine, out)
    });
    // A reader that stopped early (`| head`) does not change what was found: the exit code
    // still says it, for a CI step under `set -o pipefail`.
    if let Err(e) = written
        && !crate::output::reader_gone()
    {
        return Err(e);
    }
    let failing = findings
        .iter()
        .filter(|f| f.check.severity >= args.fail_on)
        .count();
    crate::say!(
        "hsmtrail: {} checks ran: {}{}",
        run.checks.len(),
        summary(&findings),
        if failing > 0 {
            format!(
                "; {failing} at or above {} (exit {FINDINGS_EXIT})",
                args.fail_on.name()
            )
        } else {
            String::new()
        }
    );
    Ok(if failing > 0 {
        ExitCode::from(FINDINGS_EXIT)
    } else {
        ExitCode::SUCCESS
    })
}

/// `no findings`, or `5 findings (1 critical, 4 medium)`.
fn summary(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "no findings".to_owned();
    }
    let mut by: BTreeMap<std::cmp::Reverse<Severity>, usize> = BTreeMap::new();
    for f in findings {
        *by.entry(std::cmp::Reverse(f.check.severity)).or_default() += 1;
    }
    let parts: Vec<String> = by
        .iter()
        .map(|(s, n)| format!("{n} {}", s.0.name()))
        .collect();
    format!(
        "{} finding{} ({})",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" },
        parts.join(", ")
    )
}

fn print_findings(
    findings: &[Finding],
    args: &Args,
    engine: &crate::report::session::Engine,
    out: &mut dyn Write,
) -> Result<()> {
    let format = match args.format {
        FindingFormat::Asff => {
            let target = asff::Target {
                product_arn: args.asff_product_arn.as_deref(),
                generated_at: now_ms(),
            };
            let (filed, left_out) = asff::findings(findings, &target);
            for why in left_out {
                crate::say!("hsmtrail: warning: left out of the ASFF file: {why}");
            }
            serde_json::to_writer_pretty(&mut *out, &filed)?;
            writeln!(out)?;
            return Ok(());
        }
        FindingFormat::Table => ResultFormat::Table,
        FindingFormat::Json => ResultFormat::Json,
        FindingFormat::Csv => ResultFormat::Csv,
        FindingFormat::Markdown => ResultFormat::Markdown,
    };
    let batch = checks::findings_batch(findings)?;
    let stream = datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
        batch.schema(),
        futures::stream::iter([Ok(batch)]),
    );
    engine.block_on(results::write(Box::pin(stream), format, out))?;
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn print_sql(run: &Run<'_>, params: &BTreeMap<String, String>) -> Result<ExitCode> {
    let mut out = super::stdout();
    for check in &run.checks {
        if run.checks.len() > 1 {
            writeln!(out, "-- check: {}", check.name)?;
        }
        writeln!(out, "{}", check.render(params)?)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn list(selected: &[&checks::Check]) -> Result<ExitCode> {
    let width = selected.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = super::stdout();
    for c in selected {
        let mitre = if c.mitre.is_empty() {
            String::new()
        } else {
            format!(" [{}]", c.mitre.join(", "))
        };
        writeln!(
            out,
            "{:width$}  {:8}  {}{mitre}",
            c.name,
            c.severity.name(),
            c.title
        )?;
        super::reports::print_params(&mut out, &c.template.params, width + 12)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
