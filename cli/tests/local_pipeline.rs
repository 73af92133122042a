//! The `tributary` binary against the local AWS emulator (moto, started by `make test`): the
//! local runner end to end, `status`/`files`/`history`/`retry` on a pipeline with pending,
//! failed, quarantined and busy tables, a local run killed mid-refresh, `export`, the staging
//! bucket's versions, the emulator's life cycle under `local up/down`, and how errors print.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a failed step stops the test

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use arrow::array::{Array, Int64Array};
use chrono::{DateTime, Utc};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};
use tempfile::TempDir;
use tributary_shared::adapters::dynamodb_processing_tracker::DynamoDbProcessingTracker;
use tributary_shared::adapters::dynamodb_table_registry::DynamoDbTableRegistry;
use tributary_shared::domain::dms_layout::SourceTable;
use tributary_shared::lake::partitioning::unescape_partition_value;
use tributary_shared::lake::table_config::DEFAULT_TABLE_FORMAT;
use tributary_shared::ports::processing_tracker::{LeaseGrant, ProcessingTracker};
use tributary_shared::ports::table_registry::{CadenceSettings, RegisteredTable, TableOrder};
use tributary_tests::holding_proxy::HoldingProxy;
use tributary_tests::{LocalAws, unique_name};

const CADENCE: &str = "5min";
/// A cadence the tests never run.
const HOURLY: &str = "hourly";

/// One local pipeline under its own prefix and state directory, driven through the binary.
struct LocalCli {
    workdir: TempDir,
    prefix: String,
}

impl LocalCli {
    /// `tributary local up` on the test emulator (AWS_ENDPOINT_URL), under a fresh prefix.
    async fn up() -> LocalCli {
        LocalCli::up_with(&[]).await
    }

    /// `tributary local up` whose pipeline reaches the emulator through `endpoint` (a proxy).
    async fn up_via(endpoint: &str) -> LocalCli {
        LocalCli::up_with(&["--endpoint-url", endpoint]).await
    }

    async fn up_with(options: &[&str]) -> LocalCli {
        LocalAws::connect().await; // fails clearly when no emulator is configured
        let cli = LocalCli {
            workdir: TempDir::new().expect("temp dir"),
            prefix: unique_name("t"),
        };
        let up = cli.run(&[options, &["local", "up"]].concat());
        assert_success(&up, "local up");
        cli
    }

    /// What `local up --json` reports: the local state and the stack's names.
    fn up_report(&self) -> Value {
        let up = self.run(&["--json", "local", "up"]);
        assert_success(&up, "local up (again)");
        serde_json::from_slice(&up.stdout).expect("local up prints JSON")
    }

    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tributary"));
        command
            .current_dir(self.workdir.path())
            .args(["--prefix", &self.prefix, "--local-dir"])
            .arg(self.state_dir());
        command
    }

    fn state_dir(&self) -> PathBuf {
        self.workdir.path().join(".tributary")
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run tributary")
    }

    /// Runs `--local --json ARGS` and parses stdout.
    fn json(&self, args: &[&str]) -> (Output, Value) {
        let output = self.run(&[&["--local", "--json"], args].concat());
        let value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "tributary {args:?} printed no JSON ({e}): {}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        });
        (output, value)
    }

    async fn registry(&self) -> DynamoDbTableRegistry {
        let aws = LocalAws::connect().await;
        DynamoDbTableRegistry::new(aws.dynamodb(), format!("{}-config", self.prefix))
    }

    /// Registers the cadences and `specs` (as `(spec, cadence, active)`).
    async fn register(&self, specs: &[(Value, &str, bool)]) {
        let registry = self.registry().await;
        for cadence in [CADENCE, HOURLY] {
            registry
                .put_cadence(&CadenceSettings {
                    name: cadence.to_owned(),
                    batch_size: 2,
                    max_concurrency: 2,
                    table_order: TableOrder::LargestFirst,
                    skip_idle: true,
                    schedule: None,
                })
                .await
                .expect("put cadence");
        }
        for (spec, cadence, active) in specs {
            registry
                .put_table(&RegisteredTable {
                    table_id: SourceTable {
                        schema: spec["source"]["schema"].as_str().unwrap().to_owned(),
                        table: spec["source"]["table"].as_str().unwrap().to_owned(),
                    }
                    .id(),
                    refresh_cadence: (*cadence).to_owned(),
                    active: *active,
                    spec_json: spec.to_string(),
                })
                .await
                .expect("put table");
        }
    }

    /// Writes `files` (key → contents) under a new directory and stages it.
    fn stage(&self, round: &str, files: &[(&str, &str)]) {
        let dir = self.workdir.path().join(round);
        for (key, contents) in files {
            let path = dir.join(key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }
        assert_success(
            &self.run(&["local", "stage", dir.to_str().unwrap()]),
            "local stage",
        );
    }
}

fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A headerless-CSV table `s.<table>` keyed by `id`, ordered by `ts`, partitioned by region.
fn spec(prefix: &str, table: &str, on_bad_file: &str) -> Value {
    json!({
        "source": {"schema": "s", "table": table},
        "target": {"database": "tributary_lake", "table": format!("{}_{table}", prefix.replace('-', "_")), "location": format!("{prefix}/{table}")},
        "primary_key": ["id"],
        "ordering": {"commit_timestamp_column": "ts"},
        "partition_by": ["identity(region)"],
        "on_bad_file": on_bad_file,
        "input": {"columns": [
            {"name": "id", "type": "bigint"},
            {"name": "region", "type": "string"},
            {"name": "ts", "type": "timestamp"}
        ]}
    })
}

/// Table `id` in a `status --json` report.
fn table<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["tables"]
        .as_array()
        .and_then(|tables| tables.iter().find(|t| t["table"] == id))
        .unwrap_or_else(|| panic!("{id} is not in {report}"))
}

/// `(id, region)` of every row of an exported table directory, sorted; the region comes from
/// the Hive folder name, as DuckDB would read it.
fn exported_rows(dir: &Path) -> Vec<(i64, String)> {
    let mut rows: Vec<(i64, String)> = Vec::new();
    for partition in std::fs::read_dir(dir).unwrap() {
        let partition = partition.unwrap().path();
        let folder = partition
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let escaped = folder
            .strip_prefix("region=")
            .expect("a Hive partition folder");
        let region = unescape_partition_value(escaped).expect("a Hive-escaped value");
        for file in std::fs::read_dir(&partition).unwrap() {
            let file = std::fs::File::open(file.unwrap().path()).unwrap();
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .unwrap()
                .build()
                .unwrap();
            for batch in reader {
                let batch = batch.unwrap();
                let ids = batch.column_by_name("id").unwrap();
                let ids = ids.as_any().downcast_ref::<Int64Array>().unwrap();
                assert!(
                    batch.column_by_name("region").is_none(),
                    "an identity partition column lives in the folder name (Hive), not the file"
                );
                for i in 0..batch.num_rows() {
                    rows.push((ids.value(i), region.clone()));
                }
            }
        }
    }
    rows.sort();
    rows
}

#[tokio::test]
async fn local_runner_stages_and_applies_a_dataset_end_to_end_and_exports_the_current_rows() {
    let cli = LocalCli::up().await;
    cli.register(&[
        (spec(&cli.prefix, "orders", "stop"), CADENCE, true),
        (spec(&cli.prefix, "users", "stop"), CADENCE, true),
    ])
    .await;
    cli.stage(
        "round-0",
        &[
            (
                "dms/s/orders/LOAD00000001.csv",
                "1,eu,2024-01-01 00:00:00\n2,eu,2024-01-01 00:00:00\n",
            ),
            (
                "dms/s/orders/LOAD00000002.csv",
                "3,N/A Côte d'Ivoire,2024-01-01 00:00:00\n",
            ),
            (
                "dms/s/users/LOAD00000001.csv",
                "10,eu,2024-01-01 00:00:00\n",
            ),
            ("outside/ignored.csv", "not a DMS file\n"),
        ],
    );
    let (output, run) = cli.json(&["local", "run", "--until-idle"]);
    assert_success(&output, "first run");
    assert_eq!(
        run["notifications"], 3,
        "the DMS files' notifications reached the file-manager, and only those (the rule \
         filters on the DMS folder): {run}"
    );
    assert_eq!(run["idle"], true);
    assert_eq!(run["tables"]["s.orders"]["inserted"], 3, "{run}");
    assert_eq!(run["tables"]["s.orders"]["files"], 2);
    assert_eq!(run["tables"]["s.users"]["inserted"], 1);

    // CDC: update moving id 1 to another partition, delete id 2, insert id 4.
    cli.stage(
        "round-1",
        &[(
            "dms/s/orders/20240102-000000000.csv",
            "U,1,us,2024-01-02 00:00:01\nD,2,eu,2024-01-02 00:00:02\nI,4,eu,2024-01-02 00:00:03\n",
        )],
    );
    let (output, run) = cli.json(&["local", "run", "--until-idle"]);
    assert_success(&output, "second run");
    let orders = &run["tables"]["s.orders"];
    assert_eq!(
        (&orders["inserted"], &orders["updated"], &orders["deleted"]),
        (&json!(1), &json!(1), &json!(1)),
        "{run}"
    );

    let export_dir = cli.workdir.path().join("export/s.orders");
    let (output, exported) = cli.json(&[
        "local",
        "export",
        "--table",
        "s.orders",
        export_dir.to_str().unwrap(),
    ]);
    assert_success(&output, "export");
    assert_eq!(
        exported["partition_keys"],
        json!([["region", "string"]]),
        "{exported}"
    );
    assert!(
        exported["duckdb_query"]
            .as_str()
            .unwrap()
            .contains("read_parquet")
    );
    assert_eq!(
        exported_rows(&export_dir),
        vec![
            (1, "us".to_owned()),
            (3, "N/A Côte d'Ivoire".to_owned()),
            (4, "eu".to_owned())
        ],
        "the export holds exactly the current rows, each in its partition (values needing Hive \
         escaping included)"
    );

    let (_, history) = cli.json(&["history", "--table", "s.orders"]);
    let outcomes: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "completed").count(),
        2,
        "{history}"
    );
    assert_eq!(history[0]["updated"], 1, "newest first: {history}");

    let (_, files) = cli.json(&["files", "--table", "s.orders", "--status", "processed"]);
    assert_eq!(files.as_array().unwrap().len(), 3, "{files}");
}

#[tokio::test]
async fn status_reports_pending_failed_and_quarantined_tables_and_retry_requeues_a_file() {
    let cli = LocalCli::up().await;
    cli.register(&[
        (spec(&cli.prefix, "good", "stop"), CADENCE, true),
        (spec(&cli.prefix, "blocked", "stop"), CADENCE, true),
        (spec(&cli.prefix, "skipping", "skip"), CADENCE, true),
        (spec(&cli.prefix, "parked", "stop"), CADENCE, false),
        (spec(&cli.prefix, "waiting", "stop"), HOURLY, true),
    ])
    .await;
    let row = "1,eu,2024-01-01 00:00:00\n";
    let malformed = "not-a-number,eu,2024-01-01 00:00:00\n";
    cli.stage(
        "round-0",
        &[
            ("dms/s/good/LOAD00000001.csv", row),
            ("dms/s/blocked/LOAD00000001.csv", malformed),
            ("dms/s/blocked/LOAD00000002.csv", row),
            ("dms/s/skipping/LOAD00000001.csv", malformed),
            ("dms/s/skipping/LOAD00000002.csv", row),
            ("dms/s/parked/LOAD00000001.csv", row),
            ("dms/s/waiting/LOAD00000001.csv", row),
        ],
    );
    let (output, run) = cli.json(&[
        "local",
        "run",
        "--cadence",
        CADENCE,
        "--until-idle",
        "--env",
        "TRIBUTARY_QUARANTINE_AFTER=1",
    ]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a blocked table fails the run: {run}"
    );
    assert_eq!(
        run["tables"]["s.skipping"]["inserted"], 1,
        "skip applies the files after the bad one"
    );
    let (output, status) = cli.json(&["status"]);
    assert_success(&output, "status");
    let good = table(&status, "s.good");
    assert_eq!(good["health"], "healthy", "{good}");
    assert_eq!(
        good["format"],
        DEFAULT_TABLE_FORMAT.as_str(),
        "the configured format"
    );
    assert_eq!(good["pending_files"], 0);
    assert_eq!(good["last_refresh"]["outcome"], "completed");
    assert_eq!(good["last_refresh"]["inserted"], 1);
    let waiting = table(&status, "s.waiting");
    assert_eq!(
        (
            waiting["pending_files"].as_u64(),
            waiting["pending_bytes"].as_u64()
        ),
        (Some(1), Some(row.len() as u64)),
        "recorded by the file-manager, not refreshed (its cadence did not run): {waiting}"
    );
    assert!(
        waiting["lag_seconds"].is_i64(),
        "a pending file has a lag: {waiting}"
    );
    assert!(waiting["last_refresh"].is_null());
    let blocked = table(&status, "s.blocked");
    assert_eq!(blocked["health"], "quarantined", "{blocked}");
    assert_eq!(blocked["quarantined_files"], 1);
    assert_eq!(
        blocked["pending_files"], 2,
        "the blocking file and the one behind it"
    );
    assert!(
        blocked["reasons"]
            .to_string()
            .contains("last refresh failed"),
        "{blocked}"
    );
    let skipping = table(&status, "s.skipping");
    assert_eq!(
        (
            skipping["health"].as_str(),
            skipping["pending_files"].as_u64()
        ),
        (Some("quarantined"), Some(0)),
        "{skipping}"
    );
    let parked = table(&status, "s.parked");
    assert_eq!(
        (
            parked["health"].as_str(),
            parked["active"].as_bool(),
            parked["pending_files"].as_u64()
        ),
        (Some("inactive"), Some(false), Some(1)),
        "{parked}"
    );
    assert_eq!(
        cli.run(&["--local", "status", "--check"]).status.code(),
        Some(1),
        "--check fails on unhealthy tables"
    );

    let (_, quarantined) = cli.json(&["files", "--table", "s.blocked", "--status", "quarantined"]);
    let quarantined = quarantined.as_array().unwrap();
    assert_eq!(quarantined.len(), 1);
    assert!(
        quarantined[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("not-a-number"),
        "the error names the bad value: {quarantined:?}"
    );

    let (output, requeued) = cli.json(&["retry", "--file", "dms/s/blocked/LOAD00000001.csv"]);
    assert_success(&output, "retry");
    assert_eq!(requeued.as_array().unwrap().len(), 1, "{requeued}");
    let (_, landed) = cli.json(&["files", "--table", "s.blocked", "--status", "landed"]);
    assert_eq!(
        landed.as_array().unwrap().len(),
        2,
        "the retried file is back in the backlog: {landed}"
    );
    assert_eq!(landed[0]["failures"], 0, "its failure count is reset");
    let unknown = cli.run(&[
        "--local",
        "retry",
        "--file",
        "dms/s/blocked/LOAD00000009.csv",
    ]);
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("LOAD00000009.csv"),
        "names the file it could not retry"
    );
}

#[tokio::test]
async fn objects_in_no_backlog_are_counted_listed_and_reexamined_after_registration() {
    let cli = LocalCli::up().await;
    cli.register(&[(spec(&cli.prefix, "good", "stop"), CADENCE, true)])
        .await;
    let row = "1,eu,2024-01-01 00:00:00\n";
    cli.stage(
        "round-0",
        &[
            ("dms/s/good/LOAD00000001.csv", row),
            ("dms/s/late/LOAD00000001.csv", row),
            ("dms/s/good/notes.json", "{}"),
        ],
    );
    let (output, run) = cli.json(&["local", "run", "--cadence", CADENCE, "--until-idle"]);
    assert_success(&output, "local run");
    assert_eq!(
        (
            run["intake"]["recorded"].as_u64(),
            run["intake"]["unregistered"].as_u64(),
            run["intake"]["unrecognized"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{run}"
    );
    let noted = run["intake_notes"].to_string();
    assert!(
        noted.contains("dms/s/late/LOAD00000001.csv") && noted.contains("is not registered"),
        "the run says which keys it did not route, and why: {noted}"
    );

    let (_, status) = cli.json(&["status"]);
    assert_eq!(status["unrouted"]["unrecognized"], 1, "{status}");
    assert_eq!(
        status["unrouted"]["unregistered_tables"]["s.late"], 1,
        "{status}"
    );
    assert_eq!(
        cli.run(&["--local", "status", "--check"]).status.code(),
        Some(1),
        "objects in no backlog need an operator"
    );
    let (_, unregistered) = cli.json(&["files", "--status", "unregistered"]);
    assert_eq!(unregistered[0]["table"], "s.late", "{unregistered}");
    let (_, unrecognized) = cli.json(&["files", "--status", "unrecognized"]);
    assert_eq!(
        unrecognized[0]["key"], "dms/s/good/notes.json",
        "{unrecognized}"
    );

    cli.register(&[
        (spec(&cli.prefix, "good", "stop"), CADENCE, true),
        (spec(&cli.prefix, "late", "stop"), CADENCE, true),
    ])
    .await;
    let (output, retried) = cli.json(&["retry", "--table", "s/late"]);
    assert_success(&output, "retry");
    assert_eq!(retried[0]["action"], "reexamined", "{retried}");
    let (output, run) = cli.json(&["local", "run", "--cadence", CADENCE, "--until-idle"]);
    assert_success(&output, "local run");
    assert_eq!(run["tables"]["s.late"]["inserted"], 1, "{run}");
    let (_, unregistered) = cli.json(&["files", "--status", "unregistered"]);
    assert_eq!(unregistered.as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn local_up_starts_an_emulator_that_local_down_stops() {
    let workdir = TempDir::new().unwrap();
    let venv = std::env::var("VENV").unwrap_or_else(|_| ".venv".to_owned());
    let emulator = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(venv)
        .join("bin/moto_server");
    let tributary = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tributary"))
            .current_dir(workdir.path())
            .env_remove("AWS_ENDPOINT_URL")
            .args(["--prefix", "lifecycle"])
            .args(args)
            .output()
            .unwrap()
    };
    let emulator = emulator.to_str().unwrap();
    assert_success(&tributary(&["local", "up", "--emulator", emulator]), "up");
    let state: Value = serde_json::from_slice(
        &std::fs::read(workdir.path().join(".tributary/local.json")).unwrap(),
    )
    .unwrap();
    let pid = state["emulator_pid"]
        .as_u64()
        .expect("up records the emulator it started")
        .to_string();
    let alive = || {
        Command::new("kill")
            .args(["-0", &pid])
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    assert!(alive());
    assert!(
        state["endpoint_url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"),
        "loopback only"
    );

    let again = tributary(&["local", "up", "--emulator", emulator]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("already up"),
        "a second up reuses it"
    );

    assert_success(&tributary(&["local", "down"]), "down");
    assert!(!alive(), "down stops the emulator");
    assert!(!workdir.path().join(".tributary/local.json").exists());
}

/// Turns the emulator's Step Functions interpreter (moto's `execute_state_machine`) on or off,
/// with a plain HTTP request to its configuration API.
fn execute_state_machines(endpoint: &str, on: bool) {
    use std::io::{Read, Write};
    let address = endpoint.trim_start_matches("http://");
    let body = format!(r#"{{"stepfunctions": {{"execute_state_machine": {on}}}}}"#);
    let mut stream = std::net::TcpStream::connect(address).expect("connect to the emulator");
    write!(
        stream,
        "POST /moto-api/config HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
}

#[tokio::test]
async fn refresh_starts_the_stacks_state_machine_and_follows_it_to_its_end() {
    let aws = LocalAws::connect().await;
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    execute_state_machines(&endpoint, true);
    let sfn = aws_sdk_sfn::Client::new(&aws.sdk);
    let prefix = unique_name("sfn");
    // Stand-ins for the deployed definition (moto cannot invoke our functions): one that
    // succeeds with the execution input as output, one that fails like `TablesFailed`.
    let create = |name: String, definition: Value| {
        let sfn = sfn.clone();
        async move {
            sfn.create_state_machine()
                .name(name)
                .definition(definition.to_string())
                .role_arn("arn:aws:iam::123456789012:role/refresh")
                .send()
                .await
                .expect("create state machine")
        }
    };
    create(
        format!("{prefix}-refresh"),
        json!({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": true}}}),
    )
    .await;
    let failing = create(
        format!("{prefix}-failing"),
        json!({"StartAt": "TablesFailed", "States": {"TablesFailed": {
            "Type": "Fail", "Error": "TablesFailed", "Cause": "1 table failed: s.orders"}}}),
    )
    .await;
    let refresh = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tributary"))
            .args([
                "--json",
                "--prefix",
                &prefix,
                "refresh",
                "--cadence",
                "5min",
            ])
            .args(["--table", "s.orders", "--poll-seconds", "1"])
            .args(extra)
            .output()
            .unwrap()
    };

    let succeeded = refresh(&[]);
    assert_success(&succeeded, "refresh");
    let run: Value = serde_json::from_slice(&succeeded.stdout).unwrap();
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    assert_eq!(
        run["output"],
        json!({"refresh_cadence": "5min", "tables": ["s.orders"]}),
        "the execution got the cadence and the table filter as input"
    );

    let failed = refresh(&["--state-machine-arn", failing.state_machine_arn()]);
    assert_eq!(
        failed.status.code(),
        Some(1),
        "a failed execution fails the command"
    );
    let run: Value = serde_json::from_slice(&failed.stdout).unwrap();
    assert_eq!(
        (run["status"].as_str(), run["error"].as_str()),
        (Some("FAILED"), Some("TablesFailed"))
    );
    assert!(run["cause"].as_str().unwrap().contains("s.orders"));

    let missing = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["--prefix", "no-such-stack", "refresh", "--cadence", "5min"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .contains("no state machine named no-such-stack-refresh"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    execute_state_machines(&endpoint, false);
}

/// A time as `--json` output prints it.
fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("{value} is not an RFC 3339 time"))
}

#[tokio::test]
async fn a_killed_local_run_leaves_a_short_lease_that_status_and_the_next_run_report() {
    let emulator = std::env::var("AWS_ENDPOINT_URL").expect("the emulator's endpoint");
    let proxy = HoldingProxy::start(&emulator);
    let cli = LocalCli::up_via(&proxy.url).await;
    cli.register(&[(spec(&cli.prefix, "crashy", "stop"), CADENCE, true)])
        .await;
    cli.stage(
        "round-0",
        &[(
            "dms/s/crashy/LOAD00000001.csv",
            "1,eu,2024-01-01 00:00:00\n",
        )],
    );
    // The run is killed mid-refresh: holding the table's lease, reading its DMS file.
    proxy.hold(&["GET ", "/dms/s/crashy/LOAD00000001.csv"]);
    let mut run = cli
        .command()
        .args(["--local", "local", "run", "--until-idle"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start local run");
    proxy.wait_until_held(Duration::from_secs(300));
    run.kill().expect("kill local run");
    run.wait().expect("reap local run");
    proxy.hold(&[]);

    let aws = LocalAws::connect().await;
    let names = &cli.up_report()["names"];
    let processing = DynamoDbProcessingTracker::new(
        aws.dynamodb(),
        names["processing_table"].as_str().expect("a table name"),
    );
    let lease = processing
        .table_state("s.crashy")
        .await
        .expect("read the lease")
        .expect("the table has a state item");
    let holder = lease
        .lease_owner
        .expect("the killed run still holds the lease");
    assert!(
        holder.starts_with(&format!("local-{}-", run.id())),
        "the holder names the run's process: {holder}"
    );
    let (acquired, until) = (
        lease.lease_acquired_at.expect("when it was taken"),
        lease.lease_expires_at.expect("when it lapses"),
    );
    let span = until - acquired;
    assert!(
        span > chrono::Duration::seconds(100) && span <= chrono::Duration::seconds(150),
        "the lease lasts the run's own processor deadline (120 s) plus 30 s, not a Lambda's 15 \
         minutes: taken {acquired}, lapses {until}"
    );

    let (output, status) = cli.json(&["status", "--check"]);
    let crashy = table(&status, "s.crashy");
    assert_eq!(
        (&crashy["lease"]["holder"], &crashy["lease"]["lapsed"]),
        (&json!(holder), &json!(false)),
        "{crashy}"
    );
    assert_eq!(time(&crashy["lease"]["expires_at"]), until);
    assert_eq!(
        output.status.code(),
        Some(0),
        "a lease whose holder took it moments ago may be a refresh in flight: no page: {crashy}"
    );
    let (output, status) = cli.json(&["status", "--check", "--busy-after-seconds", "0"]);
    let crashy = table(&status, "s.crashy");
    assert_eq!(crashy["health"], "busy", "{crashy}");
    assert!(
        crashy["reasons"][0].as_str().unwrap().contains(&holder),
        "{crashy}"
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "held past what a live refresh needs with files pending: --check fails"
    );

    let (output, next) = cli.json(&["local", "run", "--until-idle"]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a run that finds a busy table is not idle: {next}"
    );
    assert_eq!(next["idle"], false, "{next}");
    let blocked = &next["blocked"];
    assert_eq!(
        (
            &blocked[0]["table"],
            &blocked[0]["outcome"],
            &blocked[0]["holder"]
        ),
        (&json!("s.crashy"), &json!("busy"), &json!(holder)),
        "{next}"
    );
    assert_eq!(time(&blocked[0]["lease_expires_at"]), until);
    let text = cli.run(&["--local", "local", "run"]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains(&format!("s.crashy: busy: lease held by {holder} until")),
        "{stdout}"
    );

    let grant = processing
        .acquire(
            "s.crashy",
            "the-next-run",
            until + chrono::Duration::seconds(1),
            until + chrono::Duration::seconds(150),
        )
        .await
        .expect("acquire");
    assert!(
        matches!(&grant, LeaseGrant::Acquired { took_over_from: Some(previous), .. } if *previous == holder),
        "the next processor takes the table over once the lease lapses: {grant:?}"
    );
}

#[tokio::test]
async fn until_idle_stops_when_a_round_makes_no_progress_and_names_each_blocked_table() {
    let cli = LocalCli::up().await;
    cli.register(&[
        (spec(&cli.prefix, "fine", "stop"), CADENCE, true),
        (spec(&cli.prefix, "stuck", "stop"), CADENCE, true),
    ])
    .await;
    let row = "1,eu,2024-01-01 00:00:00\n";
    cli.stage(
        "round-0",
        &[
            ("dms/s/fine/LOAD00000001.csv", row),
            (
                "dms/s/stuck/LOAD00000001.csv",
                "not-a-number,eu,2024-01-01 00:00:00\n",
            ),
            ("dms/s/stuck/LOAD00000002.csv", row),
        ],
    );
    let (output, run) = cli.json(&[
        "local",
        "run",
        "--until-idle",
        "--env",
        "TRIBUTARY_QUARANTINE_AFTER=2",
    ]);
    assert_eq!(output.status.code(), Some(1), "{run}");
    assert_eq!(run["idle"], false, "{run}");
    assert!(
        run["rounds"].as_u64().is_some_and(|rounds| rounds <= 5),
        "rounds that change nothing end the run (after the failing file's rounds to \
         quarantine), long before --max-rounds: {run}"
    );
    assert_eq!(run["tables"]["s.fine"]["inserted"], 1, "{run}");
    let blocked = run["blocked"].as_array().expect("blocked tables");
    assert_eq!(blocked.len(), 1, "{run}");
    assert_eq!(
        (&blocked[0]["table"], &blocked[0]["outcome"]),
        (&json!("s.stuck"), &json!("failed"))
    );
    let reason = blocked[0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("quarantined") && reason.contains("dms/s/stuck/LOAD00000001.csv"),
        "says why: {reason}"
    );
}

#[tokio::test]
async fn local_up_versions_the_staging_bucket_and_its_events_carry_each_versions_id() {
    let cli = LocalCli::up().await;
    let up = cli.up_report();
    let bucket = up["state"]["staging_bucket"].as_str().expect("a bucket");
    let queue = up["names"]["file_events_queue"].as_str().expect("a queue");
    let aws = LocalAws::connect().await;
    let key = "dms/s/twice/LOAD00000001.csv";
    let bodies = ["1,eu,2024-01-01 00:00:00\n", "1,us,2024-01-01 00:00:00\n"];
    let versions = aws.put_versions(bucket, key, &bodies).await;
    assert_eq!(versions.len(), 2, "both writes are kept: {versions:?}");
    assert!(!versions.contains(&"null".to_owned()), "{versions:?}");

    let queue_url = aws
        .sqs()
        .get_queue_url()
        .queue_name(queue)
        .send()
        .await
        .expect("queue url")
        .queue_url
        .expect("a url");
    let announced = aws.announced_versions(&queue_url, 2).await;
    assert!(announced.iter().all(|(k, _)| k == key), "{announced:?}");
    let carried: Vec<String> = announced.into_iter().map(|(_, version)| version).collect();
    assert_eq!(
        carried, versions,
        "each write's event carries its version id"
    );
}

#[test]
fn a_cli_error_prints_its_chain_of_causes_and_never_a_backtrace() {
    let workdir = TempDir::new().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .current_dir(workdir.path())
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .args(["--local", "status"])
        .output()
        .expect("run tributary");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: no local pipeline recorded in"),
        "{stderr}"
    );
    assert!(
        stderr.contains("run `tributary local up` first: ") && stderr.contains("os error 2"),
        "the causes follow, on one line: {stderr}"
    );
    assert!(!stderr.to_lowercase().contains("backtrace"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
