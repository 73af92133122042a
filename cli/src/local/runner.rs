//! `local run`: what the deployed triggers do, in-process. The file-events queue is drained
//! through the file-manager's handler (SQS batches with partial failures, as the event source
//! mapping delivers them), then each cadence runs the state machine's steps: the batch-manager
//! plans, and the processor refreshes each batch, `max_concurrency` batches at once (the Map
//! state). Functions get the environment the stack template gives them; each processor call
//! gets a deadline of its own (`--processor-timeout`), so its leases lapse soon after a killed
//! run. `--until-idle` repeats rounds until one makes no progress, and then names every table it
//! could not finish and why (docs/DESIGN.md §13).

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message};
use chrono::{DateTime, Duration, Utc};
use futures::{StreamExt, stream};
use serde::Serialize;
use tributary_shared::adapters::dynamodb_file_tracker::DynamoDbFileTracker;
use tributary_shared::adapters::dynamodb_table_registry::DynamoDbTableRegistry;
use tributary_shared::bootstrap::aws::{self, AwsBatchManager, AwsProcessor};
use tributary_shared::bootstrap::config::{
    BatchManagerConfig, FileManagerConfig, ProcessorConfig, vars,
};
use tributary_shared::bootstrap::stack_template::StackTemplate;
use tributary_shared::contract::{BatchSummary, RunRequest, TableSummary};
use tributary_shared::ports::clock::SystemClock;
use tributary_shared::ports::processing_tracker::{RefreshOutcomeKind, RefreshTotals};
use tributary_shared::services::file_manager::{FileManager, FileManagerResponse, Note, Tally};
use tributary_shared::services::processor::Invocation;

use crate::connection::Session;
use crate::local_state::LocalState;
use crate::output::{Output, TextTable};

/// Most messages one SQS receive returns (and one file-manager invocation gets).
const SQS_BATCH: i32 = 10;

/// Arguments of `tributary local run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Only this cadence (default: every configured cadence).
    #[arg(long)]
    cadence: Option<String>,
    /// Repeat rounds until nothing is left to do (no queued notification, no pending file a
    /// refresh can apply).
    #[arg(long)]
    until_idle: bool,
    /// Most rounds with `--until-idle`.
    #[arg(long, default_value_t = 50)]
    max_rounds: u32,
    /// Seconds each processor call may run: its deadline, as the function timeout is a Lambda's.
    /// The processor stops starting chunks before it, and its leases last until it plus 30 s,
    /// so the tables of a killed run are free again soon after. It must exceed
    /// `TRIBUTARY_DEADLINE_MARGIN_SECONDS` (default 60).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..))]
    processor_timeout: u32,
    /// A function setting for this run, e.g. `TRIBUTARY_QUARANTINE_AFTER=1` (repeatable).
    #[arg(long = "env", value_parser = parse_setting)]
    settings: Vec<(String, String)>,
}

fn parse_setting(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{text:?} is not NAME=VALUE"))
}

/// What one table came to over the whole run.
#[derive(Debug, Default, Clone, Serialize)]
pub struct TableRun {
    /// Refreshes that committed or published.
    pub refreshes: u32,
    /// Summed counts.
    #[serde(flatten)]
    pub totals: RefreshTotals,
    /// Files quarantined during the run.
    pub quarantined: Vec<String>,
    /// The outcome of its last refresh in the run.
    pub last_outcome: Option<RefreshOutcomeKind>,
    /// Its last error.
    pub last_error: Option<String>,
}

/// A table the last round could not refresh to the end, and why.
#[derive(Debug, Clone, Serialize)]
pub struct BlockedTable {
    /// `schema.table`.
    pub table: String,
    /// Its outcome in the last round: `busy`, `failed` or `deferred`.
    pub outcome: RefreshOutcomeKind,
    /// Why, in words.
    pub reason: String,
    /// For `busy`: the processor holding its lease.
    pub holder: Option<String>,
    /// For `busy`: when that lease lapses.
    pub lease_expires_at: Option<DateTime<Utc>>,
}

/// What `local run` did.
#[derive(Debug, Default, Serialize)]
pub struct RunReport {
    /// Rounds run.
    pub rounds: u32,
    /// Queue messages delivered to the file-manager.
    pub notifications: usize,
    /// What the file-manager recorded, summed over the run.
    pub intake: Tally,
    /// Objects not recorded as landed DMS files, with the reason (unregistered, unrecognized,
    /// ignored, unreadable).
    pub intake_notes: Vec<Note>,
    /// Per table.
    pub tables: BTreeMap<String, TableRun>,
    /// Whether the run stopped because nothing was left to do.
    pub idle: bool,
    /// Tables the last round could not refresh to the end (busy, failed, deferred).
    pub blocked: Vec<BlockedTable>,
}

/// The three functions, wired as their `main`s wire them.
struct Functions {
    file_manager: FileManager<DynamoDbFileTracker, DynamoDbTableRegistry>,
    batch_manager: AwsBatchManager,
    processor: AwsProcessor,
    processor_timeout: Duration,
    quarantine_after: u32,
}

impl Functions {
    /// The identity and deadline of one processor call: the request id names this process (a
    /// lease's holder, as `status` shows it) and the deadline is the run's own.
    fn invocation(&self, batch: usize) -> Invocation {
        let now = Utc::now();
        Invocation {
            request_id: format!(
                "local-{}-{}-{batch}",
                std::process::id(),
                now.timestamp_millis()
            ),
            deadline: now + self.processor_timeout,
        }
    }
}

/// `tributary local run`.
pub async fn run(session: &Session, output: &Output, args: RunArgs) -> Result<ExitCode> {
    let state = session.local_state()?;
    let functions = functions(session, state, &args.settings, args.processor_timeout)?;
    let cadences = cadences_to_run(session, args.cadence.as_deref()).await?;
    let queue_url = file_events_queue_url(session).await?;
    let mut report = RunReport::default();
    let mut stalled_rounds = 0;
    let last_round = loop {
        report.rounds += 1;
        let progress = round(
            session,
            output,
            &functions,
            &queue_url,
            &cadences,
            &mut report,
        )
        .await?;
        if !args.until_idle {
            break progress;
        }
        if progress.advanced() {
            stalled_rounds = 0;
        } else if progress.failed && stalled_rounds < functions.quarantine_after {
            // A failing file is retried until it is quarantined; give it those rounds.
            stalled_rounds += 1;
        } else {
            report.idle = progress.unfinished.is_empty();
            break progress;
        }
        if report.rounds >= args.max_rounds {
            output.note(format!(
                "stopping after {} rounds (--max-rounds)",
                report.rounds
            ));
            break progress;
        }
    };
    report.blocked = blocked_tables(session, last_round.unfinished).await;
    print_report(output, &report);
    let failing = report
        .tables
        .values()
        .any(|t| t.last_outcome == Some(RefreshOutcomeKind::Failed));
    if failing || (args.until_idle && !report.idle) {
        output.note(format!(
            "not idle: {} (see `tributary --local status`)",
            blocked_summary(&report.blocked)
        ));
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The cadence asked for, else every configured one (at least one).
async fn cadences_to_run(session: &Session, cadence: Option<&str>) -> Result<Vec<String>> {
    let cadences: Vec<String> = match cadence {
        Some(cadence) => vec![cadence.to_owned()],
        None => session
            .registry()
            .all_cadences()
            .await
            .context("cannot list the cadences")?
            .into_iter()
            .map(|c| c.name)
            .collect(),
    };
    if cadences.is_empty() {
        bail!("no cadence is configured: apply a manifest first (`tributary config apply FILE`)");
    }
    Ok(cadences)
}

/// The URL of the local pipeline's file-events queue.
async fn file_events_queue_url(session: &Session) -> Result<String> {
    aws_sdk_sqs::Client::new(&session.sdk)
        .get_queue_url()
        .queue_name(&session.names.file_events_queue)
        .send()
        .await
        .context("cannot find the file-events queue: is the local pipeline up?")?
        .queue_url()
        .map(str::to_owned)
        .context("the file-events queue has no URL")
}

/// The blocked tables in a line (`schema.table outcome, …`), or that work is left.
fn blocked_summary(blocked: &[BlockedTable]) -> String {
    if blocked.is_empty() {
        return "work is left".to_owned();
    }
    blocked
        .iter()
        .map(|b| format!("{} {}", b.table, b.outcome.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The blocked tables of the last round, each with its reason; a busy table's lease holder and
/// expiry are read from the processing tracker.
async fn blocked_tables(
    session: &Session,
    unfinished: BTreeMap<String, (RefreshOutcomeKind, Option<String>)>,
) -> Vec<BlockedTable> {
    let tracker = session.processing_tracker();
    let mut blocked = Vec::with_capacity(unfinished.len());
    for (table, (outcome, error)) in unfinished {
        let mut entry = BlockedTable {
            table,
            outcome,
            reason: error.unwrap_or_default(),
            holder: None,
            lease_expires_at: None,
        };
        match outcome {
            RefreshOutcomeKind::Busy => {
                let state = tracker.table_state(&entry.table).await;
                let lease = state.as_ref().ok().and_then(Option::as_ref);
                entry.holder = lease.and_then(|s| s.lease_owner.clone());
                entry.lease_expires_at = lease.and_then(|s| s.lease_expires_at);
                entry.reason = match (&entry.holder, entry.lease_expires_at, &state) {
                    (Some(holder), Some(until), _) => format!(
                        "lease held by {holder} until {}: another run refreshes it, or a \
                         crashed one left its lease; run again after that",
                        until.to_rfc3339()
                    ),
                    (_, _, Err(e)) => {
                        format!("another processor holds its lease (cannot read which: {e})")
                    }
                    _ => "another processor held its lease (released since): run again".to_owned(),
                };
            }
            RefreshOutcomeKind::Deferred => {
                entry.reason = "too little time was left before the processor's deadline \
                    (--processor-timeout); the next round continues it"
                    .to_owned();
            }
            _ => {}
        }
        blocked.push(entry);
    }
    blocked
}

/// What changed in one round.
#[derive(Debug, Default)]
struct RoundProgress {
    notifications: usize,
    files_applied: u64,
    quarantined: usize,
    /// A table stopped between chunks or was deferred: the next round continues it.
    work_left: bool,
    failed: bool,
    /// Tables the round could not refresh to the end (busy, failed, deferred), with the error.
    unfinished: BTreeMap<String, (RefreshOutcomeKind, Option<String>)>,
}

impl RoundProgress {
    /// Whether the round recorded, applied or quarantined anything, or left work that the next
    /// round continues. A busy or failed table is no progress.
    fn advanced(&self) -> bool {
        self.notifications > 0 || self.files_applied > 0 || self.quarantined > 0 || self.work_left
    }

    fn add(&mut self, table: &TableSummary) {
        self.files_applied += table.totals.files;
        self.quarantined += table.quarantined.len();
        self.failed |= table.outcome == RefreshOutcomeKind::Failed;
        match table.outcome {
            RefreshOutcomeKind::Busy
            | RefreshOutcomeKind::Failed
            | RefreshOutcomeKind::Deferred => {
                self.work_left |= table.outcome == RefreshOutcomeKind::Deferred;
                self.unfinished
                    .insert(table.table.clone(), (table.outcome, table.error.clone()));
            }
            _ => self.work_left |= table.more_pending,
        }
    }
}

async fn round(
    session: &Session,
    output: &Output,
    functions: &Functions,
    queue_url: &str,
    cadences: &[String],
    report: &mut RunReport,
) -> Result<RoundProgress> {
    let first_note = report.intake_notes.len();
    let mut progress = RoundProgress {
        notifications: drain_queue(session, functions, queue_url, report).await?,
        ..RoundProgress::default()
    };
    for cadence in cadences {
        let plan = functions
            .batch_manager
            .plan(&serde_json::to_value(RunRequest::for_cadence(cadence))?)
            .await
            .with_context(|| format!("the batch-manager cannot plan cadence {cadence}"))?;
        if plan.batches.is_empty() {
            continue;
        }
        let bar = output.progress_bar(
            plan.tables.scheduled as u64,
            "{spinner} {msg} [{bar:30}] {pos}/{len} tables {elapsed}",
        );
        bar.set_message(format!(
            "round {} cadence {cadence}: {} batch(es), {} file(s) pending",
            report.rounds,
            plan.batches.len(),
            plan.tables.pending_files
        ));
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        let concurrency = usize::try_from(plan.max_concurrency).unwrap_or(1).max(1);
        let summaries: Vec<Result<BatchSummary>> = stream::iter(&plan.batches)
            .enumerate()
            .map(|(number, batch)| {
                let bar = bar.clone();
                async move {
                    let invocation = functions.invocation(number);
                    let input = serde_json::to_value(batch)?;
                    let summary = functions
                        .processor
                        .handle(&input, &invocation)
                        .await
                        .map_err(anyhow::Error::from)?;
                    bar.inc(summary.tables.len() as u64);
                    Ok(summary)
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        bar.finish_and_clear();
        for summary in summaries {
            for table in summary?.tables {
                progress.add(&table);
                let run = report.tables.entry(table.table.clone()).or_default();
                run.refreshes += table.refreshes;
                run.totals.add(&table.totals);
                run.quarantined.extend(table.quarantined);
                run.last_outcome = Some(table.outcome);
                run.last_error = table.error;
            }
        }
    }
    output.note(format!(
        "round {}: {} notification(s), {} file(s) applied, {} quarantined",
        report.rounds, progress.notifications, progress.files_applied, progress.quarantined
    ));
    let round_notes = report.intake_notes.get(first_note..).unwrap_or_default();
    for note in round_notes.iter().filter(|n| n.disposition != "ignored") {
        output.note(format!(
            "  {} {}: {}",
            note.disposition, note.key, note.reason
        ));
    }
    Ok(progress)
}

/// Delivers every queued notification to the file-manager, in SQS batches; deletes what it
/// handled and leaves what it reported as failed for redelivery (after the queue's visibility
/// timeout; the redrive policy finally moves it to the dead-letter queue). Adds what the
/// file-manager did to `report`; returns the messages delivered.
async fn drain_queue(
    session: &Session,
    functions: &Functions,
    queue_url: &str,
    report: &mut RunReport,
) -> Result<usize> {
    let sqs = aws_sdk_sqs::Client::new(&session.sdk);
    let region = session_region(session);
    let queue_arn = format!(
        "arn:aws:sqs:{region}:local:{}",
        session.names.file_events_queue
    );
    let mut handled = 0;
    loop {
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(SQS_BATCH)
            .wait_time_seconds(0)
            .send()
            .await
            .context("cannot receive from the file-events queue")?;
        let messages = received.messages();
        if messages.is_empty() {
            return Ok(handled);
        }
        let event = serde_json::to_value(sqs_event(messages, &queue_arn, &region))?;
        let handled_batch = functions
            .file_manager
            .handle(&event)
            .await
            .context("the file-manager failed the invocation")?;
        report.notifications += messages.len();
        report.intake.add(&handled_batch.report.tally);
        report.intake_notes.extend(handled_batch.report.notes);
        let retried: Vec<String> = match handled_batch.response {
            FileManagerResponse::Batch(batch) => batch
                .batch_item_failures
                .into_iter()
                .map(|failure| failure.item_identifier)
                .collect(),
            FileManagerResponse::Summary(_) => Vec::new(),
        };
        handled += messages.len();
        delete_handled(&sqs, queue_url, messages, &retried).await?;
    }
}

/// The event the queue's event source mapping delivers for `messages` of the queue `queue_arn`.
fn sqs_event(messages: &[Message], queue_arn: &str, region: &str) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|message| {
            let mut record = SqsMessage::default();
            record.message_id = message.message_id().map(str::to_owned);
            record.receipt_handle = message.receipt_handle().map(str::to_owned);
            record.body = message.body().map(str::to_owned);
            record.md5_of_body = message.md5_of_body().map(str::to_owned);
            record.event_source = Some("aws:sqs".to_owned());
            record.event_source_arn = Some(queue_arn.to_owned());
            record.aws_region = Some(region.to_owned());
            record
        })
        .collect();
    event
}

/// Deletes the `messages` the file-manager handled: all but those it reported as failed
/// (`retried`), which come back after the visibility timeout.
async fn delete_handled(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    messages: &[Message],
    retried: &[String],
) -> Result<()> {
    let done: Vec<DeleteMessageBatchRequestEntry> = messages
        .iter()
        .filter(|m| !retried.iter().any(|id| Some(id.as_str()) == m.message_id()))
        .enumerate()
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .set_receipt_handle(m.receipt_handle().map(str::to_owned))
                .build()
                .ok()
        })
        .collect();
    if !done.is_empty() {
        sqs.delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(done))
            .send()
            .await
            .context("cannot delete handled messages")?;
    }
    Ok(())
}

fn session_region(session: &Session) -> String {
    session
        .sdk
        .region()
        .map(|r| r.to_string())
        .unwrap_or_default()
}

/// Builds the functions from the environment the template gives each of them, with the local
/// resource names as values and `overrides` on top.
fn functions(
    session: &Session,
    state: &LocalState,
    overrides: &[(String, String)],
    processor_timeout_seconds: u32,
) -> Result<Functions> {
    let template = StackTemplate::bundled()?;
    let names = &session.names;
    let known: HashMap<&str, &str> = HashMap::from([
        (vars::FILE_TRACKER_TABLE, names.file_tracker_table.as_str()),
        (vars::PROCESSING_TABLE, names.processing_table.as_str()),
        (vars::CONFIG_TABLE, names.config_table.as_str()),
        (vars::STAGING_BUCKET, state.staging_bucket.as_str()),
        (vars::LAKE_BUCKET, state.lake_bucket.as_str()),
        (vars::DMS_BUCKET_FOLDER, state.dms_bucket_folder.as_str()),
        (vars::LOG_LEVEL, "warn"),
    ]);
    // DMS date partitioning is off locally: the template sets these only when configured.
    let unset_locally = [
        vars::DMS_DATE_PARTITION_SEQUENCE,
        vars::DMS_DATE_PARTITION_DELIMITER,
    ];
    let environment = |logical_id: &str| -> Result<HashMap<String, String>> {
        let function = template.function(logical_id)?;
        let mut environment = HashMap::new();
        for variable in &function.environment {
            match known.get(variable.as_str()) {
                Some(value) => {
                    environment.insert(variable.clone(), (*value).to_owned());
                }
                None if unset_locally.contains(&variable.as_str()) => {}
                None => bail!(
                    "infra/template.yaml gives {logical_id} the variable {variable}, which the \
                     local runner does not set: add it to cli/src/local/runner.rs"
                ),
            }
        }
        environment.extend(overrides.iter().cloned());
        Ok(environment)
    };
    let file_manager_env = environment("FileManagerFunction")?;
    let file_manager_config =
        FileManagerConfig::from_lookup(|name| file_manager_env.get(name).cloned())?;
    let batch_manager_env = environment("BatchManagerFunction")?;
    let batch_manager_config =
        BatchManagerConfig::from_lookup(|name| batch_manager_env.get(name).cloned())?;
    let processor_env = environment("ProcessorFunction")?;
    let processor_config = ProcessorConfig::from_lookup(|name| processor_env.get(name).cloned())?;
    let processor_timeout = std::time::Duration::from_secs(processor_timeout_seconds.into());
    let margin = processor_config.settings.deadline_margin;
    if processor_timeout <= margin {
        bail!(
            "--processor-timeout {processor_timeout_seconds} leaves the processor no time: it \
             starts no table with less than {} s ({}) before its deadline; raise it above {}, or \
             lower the margin with --env {}=N",
            margin.as_secs(),
            vars::DEADLINE_MARGIN_SECONDS,
            margin.as_secs(),
            vars::DEADLINE_MARGIN_SECONDS,
        );
    }
    let dynamodb = aws::dynamodb_client(&session.sdk);
    let tracker =
        DynamoDbFileTracker::new(dynamodb.clone(), &file_manager_config.file_tracker_table);
    let registry = DynamoDbTableRegistry::new(dynamodb, &file_manager_config.config_table);
    Ok(Functions {
        file_manager: FileManager::new(
            file_manager_config.layout,
            tracker,
            registry,
            file_manager_config.write_concurrency,
        ),
        batch_manager: aws::batch_manager(&batch_manager_config, &session.sdk),
        processor: aws::processor(&processor_config, &session.sdk, Arc::new(SystemClock))
            .context("cannot open the lake stores")?,
        processor_timeout: Duration::seconds(processor_timeout_seconds.into()),
        quarantine_after: processor_config.settings.quarantine_after,
    })
}

fn print_report(output: &Output, report: &RunReport) {
    output.emit(report, |report| {
        let mut text = TextTable::new(&[
            "table",
            "refreshes",
            "files",
            "inserted",
            "updated",
            "deleted",
            "ignored",
            "quarantined",
            "last outcome",
        ]);
        for (table, run) in &report.tables {
            text.row(vec![
                table.clone(),
                run.refreshes.to_string(),
                run.totals.files.to_string(),
                run.totals.inserted.to_string(),
                run.totals.updated.to_string(),
                run.totals.deleted.to_string(),
                run.totals.ignored.to_string(),
                run.quarantined.len().to_string(),
                run.last_outcome
                    .map(|o| o.as_str())
                    .unwrap_or("-")
                    .to_owned(),
            ]);
        }
        let intake = &report.intake;
        let mut rendered = format!(
            "{} round(s), {} notification(s): {} file(s) recorded, {} unregistered, {} \
             unrecognized, {} duplicate(s), {} ignored, {} unreadable{}\n",
            report.rounds,
            report.notifications,
            intake.recorded,
            intake.unregistered,
            intake.unrecognized,
            intake.duplicates,
            intake.ignored,
            intake.unreadable,
            if report.idle {
                ", now idle".to_owned()
            } else if report.blocked.is_empty() {
                String::new()
            } else {
                format!(", {} table(s) blocked", report.blocked.len())
            }
        );
        rendered.push_str(&text.render());
        for (table, run) in &report.tables {
            for key in &run.quarantined {
                rendered.push_str(&format!("{table}: quarantined {key}\n"));
            }
            if let Some(error) = run
                .last_error
                .as_ref()
                .filter(|_| run.last_outcome == Some(RefreshOutcomeKind::Failed))
            {
                rendered.push_str(&format!("{table}: failed: {error}\n"));
            }
        }
        for blocked in report
            .blocked
            .iter()
            .filter(|b| b.outcome != RefreshOutcomeKind::Failed)
        {
            rendered.push_str(&format!(
                "{}: {}: {}\n",
                blocked.table,
                blocked.outcome.as_str(),
                blocked.reason
            ));
        }
        rendered
    });
}
