//! `tributary refresh`: start the deployed refresh state machine for a cadence, with a
//! [`RunRequest`] as its input, and follow the execution to its end.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType};
use serde::Serialize;
use tributary_shared::contract::RunRequest;

use crate::connection::Connection;
use crate::output::Output;

/// Arguments of `tributary refresh`.
#[derive(clap::Args)]
pub struct RefreshArgs {
    /// The cadence to run.
    #[arg(long)]
    cadence: String,
    /// Only these tables (repeatable); idle ones are included.
    #[arg(long, value_parser = crate::table_arg::table_id)]
    table: Vec<String>,
    /// The state machine's ARN (default: the stack's state machine, found by name).
    #[arg(long, env = "TRIBUTARY_STATE_MACHINE_ARN")]
    state_machine_arn: Option<String>,
    /// Start the execution and return without following it.
    #[arg(long)]
    no_wait: bool,
    /// Seconds between progress polls.
    #[arg(long, default_value_t = 2)]
    poll_seconds: u64,
}

/// How `refresh` ended.
#[derive(Debug, Serialize)]
struct RefreshRun {
    execution_arn: String,
    status: String,
    batches_succeeded: usize,
    batches_failed: usize,
    output: Option<serde_json::Value>,
    error: Option<String>,
    cause: Option<String>,
}

/// What `refresh --no-wait` prints.
#[derive(Debug, Serialize)]
struct Started {
    execution_arn: String,
}

/// `tributary refresh`.
pub async fn refresh(
    connection: &Connection,
    output: &Output,
    args: RefreshArgs,
) -> Result<ExitCode> {
    let session = connection.session().await?;
    let sfn = aws_sdk_sfn::Client::new(&session.sdk);
    let arn = match &args.state_machine_arn {
        Some(arn) => arn.clone(),
        None => state_machine_arn(&sfn, &session.names.state_machine).await?,
    };
    let input = serde_json::to_string(&run_request(&args))
        .context("cannot write the state machine's input")?;
    let started = sfn
        .start_execution()
        .state_machine_arn(&arn)
        .input(input)
        .send()
        .await
        .with_context(|| format!("cannot start {arn}"))?;
    let execution_arn = started.execution_arn().to_owned();
    output.note(format!("started {execution_arn}"));
    if args.no_wait {
        output.emit(&Started { execution_arn }, |_| String::new());
        return Ok(ExitCode::SUCCESS);
    }
    let run = follow(&sfn, execution_arn, Duration::from_secs(args.poll_seconds)).await?;
    let succeeded = run.status == ExecutionStatus::Succeeded.as_str();
    output.emit(&run, refresh_text);
    Ok(if succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The execution's input: the cadence, and only the tables named (none named: all of them).
fn run_request(args: &RefreshArgs) -> RunRequest {
    RunRequest {
        tables: (!args.table.is_empty()).then(|| args.table.clone()),
        ..RunRequest::for_cadence(args.cadence.as_str())
    }
}

/// Polls the execution every `poll` behind a spinner until it is no longer running.
async fn follow(
    sfn: &aws_sdk_sfn::Client,
    execution_arn: String,
    poll: Duration,
) -> Result<RefreshRun> {
    let progress = indicatif::ProgressBar::new_spinner();
    progress.enable_steady_tick(Duration::from_millis(200));
    let run = loop {
        let described = sfn
            .describe_execution()
            .execution_arn(&execution_arn)
            .send()
            .await
            .context("cannot follow the execution")?;
        let (succeeded, failed) = batch_counts(sfn, &execution_arn).await?;
        let status = described.status().clone();
        progress.set_message(format!(
            "{}: {succeeded} batch(es) done, {failed} failed",
            status.as_str()
        ));
        if status != ExecutionStatus::Running && status != ExecutionStatus::PendingRedrive {
            break RefreshRun {
                execution_arn,
                status: status.as_str().to_owned(),
                batches_succeeded: succeeded,
                batches_failed: failed,
                output: described
                    .output()
                    .and_then(|text| serde_json::from_str(text).ok()),
                error: described.error().map(str::to_owned),
                cause: described.cause().map(str::to_owned),
            };
        }
        tokio::time::sleep(poll).await;
    };
    progress.finish_and_clear();
    Ok(run)
}

/// The Map iterations (batches) of the execution so far: succeeded, and failed or aborted.
async fn batch_counts(sfn: &aws_sdk_sfn::Client, execution_arn: &str) -> Result<(usize, usize)> {
    let events: Vec<HistoryEventType> = sfn
        .get_execution_history()
        .execution_arn(execution_arn)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .context("cannot read the execution history")?
        .iter()
        .map(|event| event.r#type().clone())
        .collect();
    let count = |kind: &HistoryEventType| events.iter().filter(|e| *e == kind).count();
    let succeeded = count(&HistoryEventType::MapIterationSucceeded);
    let failed = count(&HistoryEventType::MapIterationFailed)
        + count(&HistoryEventType::MapIterationAborted);
    Ok((succeeded, failed))
}

/// How the execution ended, with its error and cause when it failed.
fn refresh_text(run: &RefreshRun) -> String {
    let mut text = format!(
        "{}: {} — {} batch(es) succeeded, {} failed\n",
        run.execution_arn, run.status, run.batches_succeeded, run.batches_failed
    );
    for detail in [&run.error, &run.cause].into_iter().flatten() {
        text.push_str(&format!("  {detail}\n"));
    }
    text
}

async fn state_machine_arn(sfn: &aws_sdk_sfn::Client, name: &str) -> Result<String> {
    let machines: Vec<_> = sfn
        .list_state_machines()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .context("cannot list the state machines")?;
    machines
        .into_iter()
        .find(|m| m.name() == name)
        .map(|m| m.state_machine_arn().to_owned())
        .with_context(|| {
            format!(
                "no state machine named {name}: is the stack deployed with this --prefix and \
                 --region? (or pass --state-machine-arn)"
            )
        })
}

#[cfg(test)]
#[path = "refresh_test.rs"]
mod tests;
