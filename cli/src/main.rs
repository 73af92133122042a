//! The `tributary` command: configure and watch a deployed pipeline, or run the whole pipeline
//! on the local AWS emulator.

mod commands;
mod config;
mod connection;
mod local;
mod local_state;
mod output;
mod table_arg;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::connection::Connection;

/// Tributary: DMS change files → partitioned Parquet tables.
#[derive(Parser)]
#[command(name = "tributary", version, about)]
struct Cli {
    #[command(flatten)]
    connection: Connection,
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show how the file-manager classifies staging-bucket keys under a layout configuration.
    ///
    /// Exits with status 1 if any key would not be recorded.
    Classify(commands::classify::ClassifyArgs),
    /// Per table: backlog, lag, last refresh, lease, quarantined files, and a health verdict.
    ///
    /// With `--check`, exits with status 1 when any table needs attention.
    Status(commands::status::StatusArgs),
    /// The tracked DMS files of a table.
    Files(commands::files::FilesArgs),
    /// The refresh history of a table, newest first.
    History(commands::history::HistoryArgs),
    /// Start the deployed refresh state machine for a cadence and follow it to the end.
    Refresh(commands::refresh::RefreshArgs),
    /// Put quarantined files back into their table's backlog after a fix.
    Retry(commands::retry::RetryArgs),
    /// The pipeline on this machine: the local AWS emulator and the functions run in-process.
    #[command(subcommand)]
    Local(local::LocalCommand),
    /// Manage the configuration: validate a manifest, diff it against the registry, apply it,
    /// export the registry as one.
    #[command(subcommand)]
    Config(config::ConfigCommand),
}

/// Runs the command; an error is printed as its chain of causes (never as a Rust backtrace,
/// whatever `RUST_BACKTRACE` says) and exits with status 1.
fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let output = output::Output::new(cli.json);
    runtime.block_on(async move {
        let connection = cli.connection;
        match cli.command {
            Command::Classify(args) => commands::classify::classify(args),
            Command::Status(args) => commands::status::status(&connection, &output, args).await,
            Command::Files(args) => commands::files::files(&connection, &output, args).await,
            Command::History(args) => commands::history::history(&connection, &output, args).await,
            Command::Refresh(args) => commands::refresh::refresh(&connection, &output, args).await,
            Command::Retry(args) => commands::retry::retry(&connection, &output, args).await,
            Command::Local(command) => local::run(&connection, &output, command).await,
            Command::Config(command) => config::run(&connection, &output, command).await,
        }
    })
}
