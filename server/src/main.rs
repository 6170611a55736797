//! The `elevate` command line: one module per command under `cli/`; an error becomes a
//! message on standard error and exit code 2 (1 is a command's own "no": a broken audit
//! chain, a refused request).
use std::process::ExitCode;

use clap::Parser;

mod cli;

#[tokio::main]
async fn main() -> ExitCode {
    match cli::Cli::parse().run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
