//! hsmtrail turns archived AWS CloudTrail logs into analytics-ready Parquet and answers audit
//! questions about AWS CloudHSM.
//!
//! Data flows one way: [`input`] finds and decodes files into records, [`record`] is the
//! borrowed record model, [`flatten`] turns records into columns of the one [`schema`], and
//! [`output`] writes partitioned Parquet, to a folder or S3 through one object store. [`convert`]
//! runs that pipeline in parallel; [`remote`] reaches archives and output in S3 with the
//! credentials the AWS CLI would use, [`runtime`] is the one async runtime their clients and the
//! query engine share, and [`state`] remembers converted inputs.
//! [`filter`] says which events a command keeps; [`progress`] is how a run reports while it
//! runs (the library prints nothing itself).

/// Writes a line to stderr, as `eprintln!` does, but a closed stderr (`2>&1 | head -1`) is
/// not worth dying for: `eprintln!` panics there.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod audit;
pub mod cert;
#[cfg(feature = "cli")]
pub mod cli;
pub mod compact;
pub mod convert;
pub mod ddl;
pub mod error;
pub mod filter;
pub mod flatten;
pub mod input;
pub mod output;
pub mod progress;
pub mod rebuild;
pub mod record;
pub mod related;
pub mod remote;
#[cfg(feature = "cli")]
pub mod report;
pub mod runtime;
pub mod schema;
pub mod state;
pub mod time;
pub mod verify;
