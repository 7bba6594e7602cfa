use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = hsmtrail::cli::Cli::parse();
    match hsmtrail::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hsmtrail: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
