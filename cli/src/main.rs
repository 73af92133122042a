//! The `tributary` command: configure and watch a deployed pipeline, or run the whole pipeline
//! on the local AWS emulator.

mod classify;
mod config;
mod connection;
mod local;
mod output;

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
    Classify(classify::ClassifyArgs),
    /// Manage the configuration: validate a manifest, diff it against the registry, apply it,
    /// export the registry as one.
    #[command(subcommand)]
    Config(config::ConfigCommand),
}

fn main() -> Result<ExitCode> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let output = output::Output::new(cli.json);
    runtime.block_on(async move {
        let connection = cli.connection;
        match cli.command {
            Command::Classify(args) => classify::classify(args),
            Command::Config(command) => config::run(&connection, &output, command).await,
        }
    })
}
