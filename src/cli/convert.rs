//! `hsmtrail convert`: arguments in, [`crate::convert::run`] called, summary out.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::convert::{
    self, DEFAULT_MAX_FILE_BYTES, DEFAULT_MEMORY_BUDGET, Limits, Options, SourceFilter,
    TableDefinitions, Verified, WriteSettings,
};
use crate::filter::EventFilter;
use crate::input::Shard;
use crate::output::Compression;
use crate::output::destination::OutputLocation;
use crate::output::partition::Layout;
use crate::verify::{self, keys::PublicKeys};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files, directories (walked recursively), glob patterns, s3://bucket/prefix (listed
    /// along the CloudTrail layout), or - for standard input; CloudTrail files and CloudHSM
    /// audit logs (subscriptions, exports, `aws logs` output) alike.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<String>,

    /// Output directory for the Parquet files, or s3://bucket/prefix/ (`--out` works too).
    #[arg(long, short, alias = "out", value_name = "DIR")]
    output: String,

    /// Convert only inputs no earlier --incremental run into this output converted (recorded
    /// in DIR/_hsmtrail/inputs/), and record this run's.
    #[arg(long)]
    incremental: bool,

    #[command(flatten)]
    s3: super::s3::S3Args,

    /// Keep events of this eventSource only (repeatable); default: CloudHSM's events and the
    /// KMS, RAM, CloudWatch Logs and CloudTrail events that act on CloudHSM.
    #[arg(long = "source", value_name = "NAME", conflicts_with = "all_sources")]
    sources: Vec<String>,

    /// Keep events of every source.
    #[arg(long)]
    all_sources: bool,

    #[command(flatten)]
    filter: super::filter::FilterArgs,

    /// Partition levels: any of account, region, date, month, or none.
    #[arg(long, value_name = "LEVELS", default_value = "date")]
    partition_by: Vec<String>,

    /// Worker threads (default: all cores).
    #[arg(long, short, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,

    /// Parquet compression codec.
    #[arg(long, value_enum, default_value = "zstd")]
    compression: Compression,

    /// Replace the data already in the output directory (after the new files are complete).
    /// Not with --shard: each shard would remove the others' files.
    #[arg(long, conflicts_with_all = ["incremental", "shard"])]
    overwrite: bool,

    /// Keep records whose eventID was already seen in this run or is already in the output.
    #[arg(long)]
    keep_duplicates: bool,

    /// Largest decompressed size of one file, in bytes; larger files are refused.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_FILE_BYTES)]
    max_file_bytes: u64,

    /// MiB of converted rows held in memory before sorted runs are spilled to a hidden folder
    /// in the output directory (merged into one file per partition at the end).
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_MEMORY_BUDGET >> 20)]
    memory_budget: usize,

    /// Convert only shard K of N (by a stable hash of each file's path from AWSLogs/ on), so N
    /// machines can convert one archive into one output location.
    #[arg(long, value_name = "K/N", value_parser = Shard::parse)]
    shard: Option<Shard>,

    /// No progress bar, warnings or summary on stderr.
    #[arg(long, short)]
    quiet: bool,

    /// Also write the summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    summary_json: Option<PathBuf>,

    /// Also write DuckDB, Spark and Athena table definitions to DIR/_hsmtrail/.
    #[arg(long)]
    write_ddl: bool,

    /// With --write-ddl: the S3 location the Athena definition points at.
    #[arg(long, value_name = "URI", requires = "write_ddl")]
    athena_location: Option<String>,

    /// Verify the inputs against CloudTrail's signed digests first (as `hsmtrail verify`),
    /// and record in the column source_verified whether a proven digest lists each input.
    #[arg(long)]
    verify: bool,

    /// With --verify: the JSON output of `aws cloudtrail list-public-keys` (repeatable).
    #[arg(long = "public-keys", value_name = "FILE", requires = "verify")]
    public_keys: Vec<PathBuf>,

    /// With --verify: the digests' saved signatures (see `hsmtrail verify --signatures`).
    #[arg(long, value_name = "FILE", requires = "verify")]
    signatures: Option<PathBuf>,
}

/// `--verify`: the log files of the inputs that digests proven by their signatures list.
fn verify_inputs(args: &Args) -> Result<Verified> {
    let opts = verify::Options {
        inputs: args.inputs.clone(),
        s3: args.s3.options(),
        filter: EventFilter::every_source(),
        keys: PublicKeys::read(&args.public_keys)
            .map_err(|e| crate::error::UsageError(format!("{e:#}")))?,
        signatures: match &args.signatures {
            Some(path) => verify::read_signatures(path)?,
            None => Default::default(),
        },
    };
    let outcome = verify::run(&opts, &crate::progress::Silent)?;
    let proven = outcome.proven_logs();
    if !args.quiet {
        crate::say!(
            "hsmtrail: --verify: {} of {} log files listed in digests are proven{}",
            proven.len(),
            outcome.logs.len(),
            if outcome.all_proven() {
                String::new()
            } else {
                "; `hsmtrail verify` on the same inputs says why the others are not".to_owned()
            }
        );
    }
    Ok(Verified { proven })
}

pub fn run(args: Args) -> Result<ExitCode> {
    let layout = Layout::parse(&args.partition_by).map_err(super::usage)?;
    if let Some(l) = &args.athena_location
        && !l.starts_with("s3://")
    {
        return Err(super::usage(format!(
            "--athena-location must be s3://bucket/prefix/, not '{l}'"
        )));
    }
    let verified = if args.verify {
        Some(std::sync::Arc::new(verify_inputs(&args)?))
    } else {
        None
    };
    let sources = if args.all_sources {
        SourceFilter::All
    } else if args.sources.is_empty() {
        SourceFilter::default()
    } else {
        SourceFilter::Only(args.sources)
    };
    let opts = Options {
        verified,
        filter: args.filter.filter(sources)?,
        shard: args.shard,
        write: WriteSettings {
            compression: args.compression,
            layout,
            overwrite: args.overwrite,
            keep_duplicates: args.keep_duplicates,
            incremental: args.incremental,
            table_definitions: args.write_ddl.then(|| TableDefinitions {
                athena_location: args.athena_location.clone(),
            }),
        },
        limits: Limits {
            jobs: args.jobs.map(usize::from),
            max_file_bytes: args.max_file_bytes,
            memory_budget: args.memory_budget.saturating_mul(1 << 20),
        },
        s3: args.s3.options(),
        ..Options::new(
            args.inputs,
            OutputLocation::parse(&args.output).map_err(super::usage)?,
        )
    };
    let summary = convert::run(&opts, &super::progress::Bar::new(args.quiet))?;
    if let Some(path) = &args.summary_json {
        convert::write_summary_json(&summary, path)?;
    }
    if !args.quiet {
        crate::say!("{}", summary.to_text().trim_end());
    }
    Ok(if summary.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
