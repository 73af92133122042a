//! Running the `tributary` binary against the local AWS emulator. The CLI's own integration
//! tests (`cli/tests/`) pass the binary cargo built for them (`CARGO_BIN_EXE_tributary`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `tributary` command connected to the emulator at `endpoint_url` with stack prefix
/// `prefix`.
#[derive(Debug, Clone)]
pub struct Cli {
    binary: PathBuf,
    endpoint_url: String,
    prefix: String,
}

/// What one run printed and how it ended.
#[derive(Debug)]
pub struct CliRun {
    /// The exit status code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CliRun {
    /// Standard output as JSON (for `--json` runs).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

impl Cli {
    /// The command `binary` for the stack named `prefix` on the emulator at `endpoint_url`.
    pub fn new(
        binary: impl AsRef<Path>,
        endpoint_url: impl Into<String>,
        prefix: impl Into<String>,
    ) -> Cli {
        Cli {
            binary: binary.as_ref().to_path_buf(),
            endpoint_url: endpoint_url.into(),
            prefix: prefix.into(),
        }
    }

    /// Runs `tributary <connection options> args…` and waits for it.
    pub fn run(&self, args: &[&str]) -> CliRun {
        let Output {
            status,
            stdout,
            stderr,
        } = Command::new(&self.binary)
            .args(["--endpoint-url", &self.endpoint_url])
            .args(["--region", "us-east-1", "--prefix", &self.prefix])
            .args(args)
            .env_remove("TRIBUTARY_PREFIX")
            .output()
            .expect("run the tributary CLI");
        CliRun {
            code: status.code(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }
}
