//! `nextal-sms`: the Nextal SMS service and its operator commands.

use std::process::ExitCode;

use clap::Parser;
use nextal_api::config::Cli;
use nextal_api::{commands, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs go to standard error so that command output (e.g. `openapi`) stays clean.
    telemetry::init(cli.settings.log_format, std::io::stderr);
    match commands::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "nextal-sms failed");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
