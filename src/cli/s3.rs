//! How to reach S3: the options every subcommand that reads or writes `s3://` shares.

use std::time::Duration;

use crate::remote::S3Options;

#[derive(Debug, clap::Args)]
pub struct S3Args {
    /// S3-compatible endpoint, e.g. http://127.0.0.1:9000 (default: AWS, or AWS_ENDPOINT_URL).
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,

    /// Path-style S3 requests (endpoint/bucket/key), as most S3-compatible stores need.
    #[arg(long)]
    path_style: bool,

    /// Times an S3 request that failed (a 5xx answer, throttling, a reset or cut connection, a
    /// timeout) is tried again, with exponential backoff, before the run gives up on it.
    #[arg(long, value_name = "N", default_value_t = S3Options::DEFAULT_RETRIES)]
    s3_retries: usize,

    /// Seconds one S3 request may take, its whole answer included, before it is abandoned
    /// (and tried again).
    #[arg(long, value_name = "SECONDS", default_value_t = S3Options::DEFAULT_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    s3_timeout: u64,
}

impl S3Args {
    pub fn options(&self) -> S3Options {
        S3Options {
            endpoint_url: self.endpoint_url.clone(),
            path_style: self.path_style,
            retries: self.s3_retries,
            timeout: Duration::from_secs(self.s3_timeout),
        }
    }
}
