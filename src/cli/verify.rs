//! `hsmtrail verify`: check an archive against CloudTrail's signed digests; exit 0 only when
//! everything in range is proven valid.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

use crate::convert::SourceFilter;
use crate::verify::keys::PublicKeys;
use crate::verify::{self, DigestStatus, Gap, LogStatus, Options, Outcome};

/// How the outcome is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VerifyFormat {
    /// Counts by outcome, then every problem with its file and reason.
    Table,
    /// JSON Lines: one object a digest, log file or gap.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The logging bucket: `s3://bucket/prefix/` (digests' signatures read from their
    /// metadata) or a local copy (a folder holding `AWSLogs/`).
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<String>,

    /// The JSON output of `aws cloudtrail list-public-keys` (repeatable: one a region).
    #[arg(long = "public-keys", value_name = "FILE")]
    public_keys: Vec<PathBuf>,

    /// A JSON object of digest keys and their signatures (`x-amz-meta-signature`), saved
    /// when the bucket was copied: proves the newest digest of each chain too.
    #[arg(long, value_name = "FILE")]
    signatures: Option<PathBuf>,

    #[command(flatten)]
    filter: super::filter::FilterArgs,

    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: VerifyFormat,

    /// Also write the counts as JSON to this file.
    #[arg(long, value_name = "FILE")]
    summary_json: Option<PathBuf>,

    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,

    #[command(flatten)]
    s3: super::s3::S3Args,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let keys = PublicKeys::read(&args.public_keys)
        .map_err(|e| crate::error::UsageError(format!("{e:#}")))?;
    let opts = Options {
        inputs: args.inputs.clone(),
        s3: args.s3.options(),
        filter: args.filter.filter(SourceFilter::All)?,
        keys,
        signatures: match &args.signatures {
            Some(path) => verify::read_signatures(path)?,
            None => Default::default(),
        },
    };
    let bar = super::progress::Bar::new(args.quiet);
    let outcome = verify::run(&opts, &bar)?;
    let counts = counts(&outcome);
    let mut out = std::io::BufWriter::new(super::stdout());
    match args.format {
        VerifyFormat::Table => print_table(&outcome, &counts, &mut out)?,
        VerifyFormat::Json => print_json(&outcome, &mut out)?,
    }
    out.flush()?;
    if let Some(path) = &args.summary_json {
        let text = serde_json::to_vec_pretty(&json!({
            "all_proven": outcome.all_proven(),
            "counts": counts,
        }))?;
        crate::output::write_user_file(path, |f| Ok(f.write_all(&text)?))?;
    }
    if args.public_keys.is_empty() && !outcome.digests.is_empty() {
        let regions: std::collections::BTreeSet<&str> = outcome
            .digests
            .iter()
            .filter_map(|(key, _)| key.split('/').nth_back(4))
            .collect();
        crate::say!(
            "hsmtrail: no --public-keys given, so no signature was checked. The digests were \
             signed in {}: save the keys of each region with `aws cloudtrail list-public-keys \
             --region REGION --start-time ... --end-time ... > keys-REGION.json` and pass \
             them with --public-keys",
            regions.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(if outcome.all_proven() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Counts by kind and outcome: `digest valid`, `log modified`, `gap restart`, ...
fn counts(o: &Outcome) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (_, s) in &o.digests {
        *counts
            .entry(format!("digest {}", digest_word(s)))
            .or_default() += 1;
    }
    for (_, s) in &o.logs {
        *counts.entry(format!("log {}", log_word(s))).or_default() += 1;
    }
    for g in &o.gaps {
        *counts.entry(format!("gap {}", gap_word(g))).or_default() += 1;
    }
    if !o.unreadable.is_empty() {
        counts.insert("file unreadable".to_owned(), o.unreadable.len());
    }
    counts
}

fn digest_word(s: &DigestStatus) -> &'static str {
    match s {
        DigestStatus::Valid => "valid",
        DigestStatus::Unproven(_) => "unproven",
        DigestStatus::Invalid(_) => "invalid",
        DigestStatus::UnknownKey(_) => "unknown-key",
        DigestStatus::Moved(_) => "moved",
        DigestStatus::Unreadable(_) => "unreadable",
        DigestStatus::Missing => "missing",
    }
}

fn digest_reason(s: &DigestStatus) -> String {
    match s {
        DigestStatus::Valid => "signature checked".to_owned(),
        DigestStatus::Missing => {
            "the next digest names it, but it is not in the archive".to_owned()
        }
        DigestStatus::Unproven(r)
        | DigestStatus::Invalid(r)
        | DigestStatus::UnknownKey(r)
        | DigestStatus::Moved(r)
        | DigestStatus::Unreadable(r) => r.clone(),
    }
}

fn log_word(s: &LogStatus) -> &'static str {
    match s {
        LogStatus::Valid => "valid",
        LogStatus::Unproven => "unproven",
        LogStatus::Modified(_) => "modified",
        LogStatus::Missing => "missing",
        LogStatus::Moved(_) => "moved",
        LogStatus::Unreadable(_) => "unreadable",
        LogStatus::Unlisted => "unlisted",
    }
}

fn log_reason(s: &LogStatus) -> String {
    match s {
        LogStatus::Valid => "hash matches a proven digest".to_owned(),
        LogStatus::Unproven => "hash matches, but its digest is unproven".to_owned(),
        LogStatus::Modified(r) => r.clone(),
        LogStatus::Missing => "listed in a digest, not in the archive".to_owned(),
        LogStatus::Moved(to) => format!("found at {to}"),
        LogStatus::Unreadable(r) => r.clone(),
        LogStatus::Unlisted => "no digest in range lists it".to_owned(),
    }
}

fn gap_word(g: &Gap) -> &'static str {
    match g {
        Gap::Restart { .. } => "restart",
        Gap::Broken { .. } => "broken",
        Gap::Hole { .. } => "hole",
        Gap::EndsEarly { .. } => "ends-early",
    }
}

fn gap_text(g: &Gap) -> String {
    match g {
        Gap::Restart { chain, from, to } => format!(
            "{chain}: the chain restarts, no digests from {from} to {to} (logging or validation was off)"
        ),
        Gap::Broken {
            chain,
            at,
            expected,
        } => format!("{chain}: {at} follows another digest than the one it names ({expected})"),
        Gap::Hole { chain, from, to } => {
            format!("{chain}: digests are missing, none from {from} to {to}")
        }
        Gap::EndsEarly {
            chain,
            at,
            others_until,
        } => format!(
            "{chain}: the chain's newest digest ends at {at}, while digests run to {others_until}:              its newest digests were deleted, or its trail stopped or deleted (reported, not a failure)"
        ),
    }
}

fn print_table(o: &Outcome, counts: &BTreeMap<String, usize>, out: &mut dyn Write) -> Result<()> {
    if o.digests.is_empty() {
        writeln!(out, "no digests in range")?;
    }
    for (what, n) in counts {
        writeln!(out, "{n:>8}  {what}")?;
    }
    let problems: Vec<String> = o
        .digests
        .iter()
        .filter(|(_, s)| *s != DigestStatus::Valid)
        .map(|(k, s)| format!("digest {}: {k}: {}", digest_word(s), digest_reason(s)))
        .chain(
            o.logs
                .iter()
                .filter(|(_, s)| *s != LogStatus::Valid)
                .map(|(k, s)| format!("log {}: {k}: {}", log_word(s), log_reason(s))),
        )
        .chain(o.gaps.iter().map(|g| format!("gap: {}", gap_text(g))))
        .chain(
            o.unreadable
                .iter()
                .map(|(path, why)| format!("file unreadable: {path}: {why}")),
        )
        .collect();
    if !problems.is_empty() {
        writeln!(out)?;
        for p in problems {
            writeln!(out, "{p}")?;
        }
    }
    writeln!(
        out,
        "\n{}",
        if o.all_proven() {
            "everything in range is proven valid"
        } else {
            "NOT everything in range is proven valid"
        }
    )?;
    Ok(())
}

fn print_json(o: &Outcome, out: &mut dyn Write) -> Result<()> {
    for (key, s) in &o.digests {
        let line = json!({"kind": "digest", "key": key, "status": digest_word(s), "reason": digest_reason(s)});
        writeln!(out, "{line}")?;
    }
    for (key, s) in &o.logs {
        let line =
            json!({"kind": "log", "key": key, "status": log_word(s), "reason": log_reason(s)});
        writeln!(out, "{line}")?;
    }
    for g in &o.gaps {
        let line = json!({"kind": "gap", "status": gap_word(g), "reason": gap_text(g)});
        writeln!(out, "{line}")?;
    }
    for (path, why) in &o.unreadable {
        let line = json!({"kind": "file", "key": path, "status": "unreadable", "reason": why});
        writeln!(out, "{line}")?;
    }
    Ok(())
}
