//! `tributary local`: the whole pipeline on this machine. `up` starts (or reuses) the local AWS
//! emulator and creates the stack's resources from `infra/template.yaml`; `stage` uploads DMS
//! files; `run` drives the functions in-process the way the deployed triggers and state machine
//! do; `export` copies lake tables to disk; `down` stops what `up` started.

mod emulator;
mod export;
mod runner;
mod stage;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::connection::{Connection, Session};
use crate::output::Output;

/// What `tributary local up` recorded: enough for every later command to reach the same
/// emulator and resources, and for `down` to stop what `up` started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalState {
    /// The emulator's endpoint, `http://127.0.0.1:<port>`.
    pub endpoint_url: String,
    /// The region resources were created in.
    pub region: String,
    /// The stack `NamePrefix` of the local resources.
    pub prefix: String,
    /// Process id of the emulator `up` started; `None` when `up` reused a running one.
    pub emulator_pid: Option<u32>,
    /// The staging bucket DMS files are uploaded to.
    pub staging_bucket: String,
    /// The lake bucket.
    pub lake_bucket: String,
    /// The DMS `BucketFolder` (the S3 → queue route filters on it).
    pub dms_bucket_folder: String,
}

impl LocalState {
    /// The state file inside the state directory.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("local.json")
    }

    /// Reads the state `up` wrote into `dir`.
    pub fn load(dir: &Path) -> Result<LocalState> {
        let path = Self::path(dir);
        let text = fs::read_to_string(&path).with_context(|| {
            format!(
                "no local pipeline recorded in {}: run `tributary local up` first",
                path.display()
            )
        })?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a local pipeline state file", path.display()))
    }

    /// Writes the state into `dir` (created when missing).
    pub fn save(&self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = Self::path(dir);
        fs::write(&path, serde_json::to_string_pretty(self)?)
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

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

/// The local state of a session that must be local.
fn state_of(session: &Session) -> Result<&LocalState> {
    session
        .local
        .as_ref()
        .context("not connected to a local pipeline: run `tributary local up` first")
}
