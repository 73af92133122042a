//! `local up` and `local down`: the emulator's life cycle and the stack's resources in it.

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::json;
use tributary_shared::adapters::dynamodb_file_tracker::DynamoDbFileTracker;
use tributary_shared::adapters::dynamodb_processing_tracker::DynamoDbProcessingTracker;
use tributary_shared::adapters::dynamodb_table_registry::DynamoDbTableRegistry;
use tributary_shared::adapters::glue_catalog::GlueCatalog;
use tributary_shared::adapters::local_stack::{create_bucket, create_queue};
use tributary_shared::bootstrap::aws;
use tributary_shared::ports::catalog::Catalog;

use crate::connection::{Connection, StackNames, bucket_name, local_sdk_config};
use crate::local_state::LocalState;
use crate::output::Output;

/// The account id the emulator reports (part of the stack's bucket names).
const LOCAL_ACCOUNT_ID: &str = "123456789012";
/// How long the emulator may take to answer after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `down` waits for the emulator to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Arguments of `tributary local up`.
#[derive(clap::Args)]
pub struct UpArgs {
    /// The emulator's server executable (moto's `moto_server`, installed by `make venv`).
    #[arg(
        long,
        env = "TRIBUTARY_EMULATOR",
        default_value = ".venv/bin/moto_server"
    )]
    emulator: PathBuf,
    /// The DMS `BucketFolder`: the S3 → queue route only passes keys under it.
    #[arg(long, default_value = "dms")]
    dms_bucket_folder: String,
    /// The region of the local resources.
    #[arg(long, default_value = "us-east-1")]
    local_region: String,
}

/// What `up` created, as printed.
#[derive(Debug, serde::Serialize)]
struct UpReport<'a> {
    reused: bool,
    state: &'a LocalState,
    names: &'a StackNames,
}

/// `tributary local up`.
pub async fn up(connection: &Connection, output: &Output, args: UpArgs) -> Result<ExitCode> {
    let dir = &connection.local_dir;
    if let Ok(state) = LocalState::load(dir) {
        if answers(&state.endpoint_url) {
            let names = StackNames::for_prefix(&state.prefix)?;
            report(output, &state, &names, true);
            return Ok(ExitCode::SUCCESS);
        }
        output.note(format!(
            "the local pipeline recorded in {} is gone (its emulator does not answer); starting a new one",
            dir.display()
        ));
    }
    let (endpoint_url, emulator_pid) = match &connection.endpoint_url {
        Some(url) => (url.clone(), None),
        None => {
            let (url, pid) = start_emulator(&args.emulator, dir)?;
            (url, Some(pid))
        }
    };
    let state = LocalState {
        staging_bucket: bucket_name(
            &connection.prefix,
            "StagingBucket",
            LOCAL_ACCOUNT_ID,
            &args.local_region,
        )?,
        lake_bucket: bucket_name(
            &connection.prefix,
            "LakeBucket",
            LOCAL_ACCOUNT_ID,
            &args.local_region,
        )?,
        endpoint_url,
        region: args.local_region,
        prefix: connection.prefix.clone(),
        emulator_pid,
        dms_bucket_folder: args.dms_bucket_folder,
    };
    let names = StackNames::for_prefix(&state.prefix)?;
    let created = async {
        wait_until_answering(&state.endpoint_url).await?;
        let sdk = local_sdk_config(&state.endpoint_url, &state.region).await;
        create_resources(&sdk, &state, &names).await
    }
    .await;
    if let Err(error) = created {
        if let Some(pid) = state.emulator_pid {
            stop_process(pid);
        }
        return Err(error);
    }
    state.save(dir)?;
    report(output, &state, &names, false);
    Ok(ExitCode::SUCCESS)
}

fn report(output: &Output, state: &LocalState, names: &StackNames, reused: bool) {
    let up = UpReport {
        reused,
        state,
        names,
    };
    output.emit(&up, |up| {
        format!(
            "local pipeline {} at {}\n  staging bucket  {} (DMS folder {}/)\n  lake bucket     {}\n  \
             tables          {}, {}, {}\n  queue           {}\n  Glue database   {}\n\
             stop it with `tributary local down`\n",
            if up.reused { "already up" } else { "up" },
            up.state.endpoint_url,
            up.state.staging_bucket,
            up.state.dms_bucket_folder,
            up.state.lake_bucket,
            up.names.config_table,
            up.names.file_tracker_table,
            up.names.processing_table,
            up.names.file_events_queue,
            up.names.glue_database,
        )
    });
}

/// Starts the emulator on 127.0.0.1 and a free port, in its own process group (so it outlives
/// this command until `down`), logging into the state directory.
fn start_emulator(executable: &Path, dir: &Path) -> Result<(String, u32)> {
    if !executable.is_file() {
        bail!(
            "the local AWS emulator {} does not exist: run `make venv` (it installs moto) or pass \
             --emulator",
            executable.display()
        );
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .context("cannot find a free port on 127.0.0.1")?
        .port();
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let log_path = dir.join("emulator.log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))?;
    let child = Command::new(executable)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start {}", executable.display()))?;
    Ok((format!("http://127.0.0.1:{port}"), child.id()))
}

/// Whether something listens at the endpoint's address.
fn answers(endpoint_url: &str) -> bool {
    let address = endpoint_url
        .trim_start_matches("http://")
        .trim_end_matches('/');
    TcpStream::connect(address).is_ok()
}

async fn wait_until_answering(endpoint_url: &str) -> Result<()> {
    let started = Instant::now();
    while !answers(endpoint_url) {
        if started.elapsed() > START_TIMEOUT {
            bail!(
                "the local AWS emulator does not answer at {endpoint_url} after {} s (see \
                 emulator.log in the local state directory)",
                START_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Creates what the stack creates, from the template's definitions: the buckets (versioned, the
/// staging bucket with EventBridge notifications), the rule routing DMS objects to the queue (with its dead-letter queue), the
/// DynamoDB tables and the Glue database. Existing resources are kept.
async fn create_resources(sdk: &SdkConfig, state: &LocalState, names: &StackNames) -> Result<()> {
    let s3 = aws::s3_client(sdk);
    create_bucket(&s3, "StagingBucket", &state.staging_bucket).await?;
    create_bucket(&s3, "LakeBucket", &state.lake_bucket).await?;

    let sqs = aws_sdk_sqs::Client::new(sdk);
    let dead_letter_url = create_queue(
        &sqs,
        "FileEventsDeadLetterQueue",
        &names.file_events_dead_letter_queue,
        None,
    )
    .await?;
    let dead_letter_arn = queue_arn(&sqs, &dead_letter_url).await?;
    let queue_url = create_queue(
        &sqs,
        "FileEventsQueue",
        &names.file_events_queue,
        Some(&dead_letter_arn),
    )
    .await?;
    let queue_arn = queue_arn(&sqs, &queue_url).await?;

    let events = aws_sdk_eventbridge::Client::new(sdk);
    events
        .put_rule()
        .name(&names.file_events_rule)
        .event_pattern(file_events_pattern(state).to_string())
        .send()
        .await
        .context("cannot create the file-events rule")?;
    events
        .put_targets()
        .rule(&names.file_events_rule)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("file-events-queue")
                .arn(&queue_arn)
                .build()
                .context("file-events rule target")?,
        )
        .send()
        .await
        .context("cannot route the file-events rule to the queue")?;

    let dynamodb = aws::dynamodb_client(sdk);
    DynamoDbFileTracker::create_table(&dynamodb, &names.file_tracker_table).await?;
    DynamoDbProcessingTracker::create_table(&dynamodb, &names.processing_table).await?;
    DynamoDbTableRegistry::create_table(&dynamodb, &names.config_table).await?;
    GlueCatalog::new(aws::glue_client(sdk))
        .ensure_database(&names.glue_database)
        .await
        .context("cannot create the Glue database")?;
    Ok(())
}

/// The event pattern of the template's `FileEventsRule` for the local staging bucket and DMS
/// folder (tests/tests/stack_definitions.rs checks the template's pattern has this shape).
pub fn file_events_pattern(state: &LocalState) -> serde_json::Value {
    let mut pattern = json!({
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [state.staging_bucket]}},
    });
    if !state.dms_bucket_folder.is_empty() {
        pattern["detail"]["object"] =
            json!({"key": [{"prefix": format!("{}/", state.dms_bucket_folder)}]});
    }
    pattern
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .with_context(|| format!("cannot read the ARN of {url}"))?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .with_context(|| format!("{url} has no ARN"))
}

/// `tributary local down`.
pub async fn down(connection: &Connection, output: &Output) -> Result<ExitCode> {
    let dir = &connection.local_dir;
    let state = match LocalState::load(dir) {
        Ok(state) => state,
        Err(_) => {
            output.note(format!(
                "no local pipeline recorded in {}: nothing to stop",
                dir.display()
            ));
            return Ok(ExitCode::SUCCESS);
        }
    };
    match state.emulator_pid {
        Some(pid) if !is_emulator(pid) => output.note(format!(
            "process {pid} is no longer the local AWS emulator; nothing to stop"
        )),
        Some(pid) => {
            stop_process(pid);
            output.note(format!(
                "stopped the local AWS emulator (pid {pid}) at {}",
                state.endpoint_url
            ));
        }
        None => output.note(format!(
            "the emulator at {} was not started by `local up`; it keeps running",
            state.endpoint_url
        )),
    }
    std::fs::remove_file(LocalState::path(dir))
        .with_context(|| format!("cannot remove {}", LocalState::path(dir).display()))?;
    Ok(ExitCode::SUCCESS)
}

/// Whether process `pid` still runs the emulator (where `/proc` tells; elsewhere assumed), so a
/// recycled process id is never signalled.
fn is_emulator(pid: u32) -> bool {
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => String::from_utf8_lossy(&cmdline).contains("moto"),
        Err(_) => !Path::new("/proc/self").exists(),
    }
}

/// Stops process `pid` (SIGTERM, then SIGKILL after [`STOP_TIMEOUT`]) if it is still running.
fn stop_process(pid: u32) {
    let signal = |name: &str| {
        Command::new("kill")
            .args([name, &pid.to_string()])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    if !signal("-TERM") {
        return;
    }
    let started = Instant::now();
    while signal("-0") {
        if started.elapsed() > STOP_TIMEOUT {
            signal("-KILL");
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
