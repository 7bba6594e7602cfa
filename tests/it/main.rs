//! hsmtrail's integration tests, one module per concern, compiled as one test binary (as
//! ripgrep and xsv do) so that a change links the tests once. They run the real binary and read
//! what it writes with independent readers: the Parquet back with arrow, CloudTrail files with
//! plain serde_json values, S3 through boto3, and the output through DuckDB, PyArrow and Spark.
//!
//! `cargo test --test it s3::` runs one module.

mod audit;
mod checks;
mod common;

mod convert_damaged;
mod convert_fixtures;
mod convert_incremental;
mod convert_options;
mod fuzz_regressions;
mod interop;
mod realdata;
mod reports;
mod s3;
mod schema_doc;
mod verify;
