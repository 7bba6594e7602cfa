//! `hsmtrail compact`: arguments in, [`crate::compact::run_at`] called, summary out.

use std::process::ExitCode;

use anyhow::Result;

use crate::compact::{self, Options};
use crate::output::Compression;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The output of `hsmtrail convert`: a directory or s3://bucket/prefix/.
    #[arg(value_name = "DIR")]
    location: String,

    /// Size of each file written, in MiB (a partition smaller than this becomes one file).
    #[arg(long, value_name = "MIB", default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..))]
    target_size: u64,

    /// Parquet compression codec of the files written.
    #[arg(long, value_enum, default_value = "zstd")]
    compression: Compression,

    #[command(flatten)]
    s3: super::s3::S3Args,

    /// No waiting notice or summary on stderr.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let s3 = args.s3.options();
    let opts = Options {
        target_bytes: args.target_size << 20,
        compression: args.compression,
    };
    let progress = super::progress::Bar::new(args.quiet);
    let summary = compact::run_at(&args.location, &s3, &opts, &progress)?;
    if !args.quiet {
        crate::say!("{}", summary.to_text().trim_end());
    }
    Ok(ExitCode::SUCCESS)
}
