//! `tributary local`: the whole pipeline on this machine. `up` starts (or reuses) the local AWS
//! emulator and creates the stack's resources from `infra/template.yaml`; `stage` uploads DMS
//! files; `run` drives the functions in-process the way the deployed triggers and state machine
//! do; `export` copies lake tables to disk; `down` stops what `up` started.

mod emulator;
mod export;
mod runner;
mod stage;

use std::process::ExitCode;

use anyhow::Result;

use crate::connection::{Connection, Session};
use crate::output::Output;

/// The `tributary local` subcommands.
#[derive(clap::Subcommand)]
pub enum LocalCommand {
    /// Start (or reuse) the local AWS emulator on 127.0.0.1 and create the stack's resources.
    Up(emulator::UpArgs),
    /// Upload a directory of DMS files to the staging bucket, keeping relative keys.
    Stage(stage::StageArgs),
    /// Drain the file-events queue and run the refresh for each cadence, in-process.
    Run(runner::RunArgs),
    /// Copy a lake table's current partitions to local disk in Hive layout.
    Export(export::ExportArgs),
    /// Stop what `up` started and forget the local pipeline.
    Down,
}

/// Runs a `tributary local` subcommand.
pub async fn run(
    connection: &Connection,
    output: &Output,
    command: LocalCommand,
) -> Result<ExitCode> {
    match command {
        LocalCommand::Up(args) => emulator::up(connection, output, args).await,
        LocalCommand::Down => emulator::down(connection, output).await,
        LocalCommand::Stage(args) => {
            stage::stage(&local_session(connection).await?, output, args).await
        }
        LocalCommand::Run(args) => {
            runner::run(&local_session(connection).await?, output, args).await
        }
        LocalCommand::Export(args) => {
            export::export(&local_session(connection).await?, output, args).await
        }
    }
}

/// The session of the local pipeline, whatever `--local` says.
async fn local_session(connection: &Connection) -> Result<Session> {
    let mut local = connection.clone();
    local.local = true;
    local.session().await
}
