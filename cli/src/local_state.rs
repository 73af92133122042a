//! The local pipeline's state file: what `tributary local up` records in the state directory
//! (`local.json`) and every later command reads to reach the same emulator and resources. A
//! leaf module: it depends on no other module of the CLI.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

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
