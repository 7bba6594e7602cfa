//! Errors the command line reports in its own way.

/// The command as given cannot run (exit code 2, like clap's own usage errors): it asks for
/// something that contradicts the output or another option, and nothing was written.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
