//! Running the built `tributary` command against the local AWS emulator.
//!
//! The binary belongs to another package, so cargo does not build it for these tests by itself:
//! [`binary`] builds it (or finds it up to date) once per test process, so a CLI test never runs
//! a stale binary. It reuses the compiled dependencies of the tests' build directory, and puts the
//! binary in a target directory of this checkout's own: checkouts sharing one build directory
//! (worktrees) would otherwise overwrite each other's `debug/tributary`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The `tributary` binary, built once per test process.
pub fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(build)
}

fn build() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace");
    // This test runs as <build dir>/<profile>/deps/<test>.
    let test = std::env::current_exe().expect("the test executable's path");
    let build_dir = test
        .ancestors()
        .nth(3)
        .expect("the test executable sits in <build dir>/<profile>/deps");
    let checkout: String = workspace
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let target_dir = build_dir.join("tributary-cli-under-test").join(checkout);
    let output = Command::new(env!("CARGO"))
        .current_dir(workspace)
        .env("CARGO_BUILD_BUILD_DIR", build_dir)
        .env("CARGO_TARGET_DIR", &target_dir)
        .args([
            "build",
            "--package",
            "tributary-cli",
            "--bin",
            "tributary",
            "--message-format=json",
        ])
        .output()
        .expect("run cargo to build the tributary CLI");
    let messages: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    if !output.status.success() {
        let errors: String = messages
            .iter()
            .filter(|m| m["reason"] == "compiler-message" && m["message"]["level"] == "error")
            .filter_map(|m| m["message"]["rendered"].as_str())
            .collect();
        panic!(
            "building the tributary CLI (cargo build -p tributary-cli) failed:\n{errors}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    messages
        .iter()
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "tributary")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo reports the tributary executable it built")
}

/// The `tributary` command connected to the emulator at `endpoint_url` with stack prefix
/// `prefix`.
#[derive(Debug, Clone)]
pub struct Cli {
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
    /// The command for the stack named `prefix` on the emulator at `endpoint_url`.
    pub fn new(endpoint_url: impl Into<String>, prefix: impl Into<String>) -> Cli {
        Cli {
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
        } = Command::new(binary())
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
