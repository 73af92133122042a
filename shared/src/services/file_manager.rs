//! The file-manager service: turns object-created events into file-tracker records.
//!
//! Message handling rules (docs/DESIGN.md §3):
//! - every object under the staging prefix is recorded once per object version: a registered
//!   table's DMS file as `landed` (its backlog), an unregistered table's as `unregistered`,
//!   anything else as `unrecognized` with the reason — nothing that lands is dropped without a
//!   trace; test events, other event types, folder markers and objects outside the staging
//!   prefix are no-ops;
//! - a message (or one record of it) that cannot be read, and a notice the tracker or the
//!   registry could not serve, is reported in `batchItemFailures`: SQS redelivers it and finally
//!   moves it to the DLQ — the good records of the message are recorded meanwhile (again as
//!   duplicates on redelivery);
//! - direct invocations return an error when anything could not be recorded, so Lambda retries
//!   and then hands the event to the function's on-failure destination.

use std::collections::{BTreeSet, HashMap};

use aws_lambda_events::event::sqs::SqsBatchResponse;
use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;
use tracing::{error, info};

use crate::domain::dms_layout::StagingLayout;
use crate::domain::object_key::ObjectKey;
use crate::domain::s3_events::{
    EventError, EventKey, Invocation, Notice, ObjectCreated, QueuedNotices, StagedObject,
    parse_invocation,
};
use crate::ports::file_tracker::{
    Arrival, FileStatus, FileTracker, LandedFile, RecordOutcome, UnrecognizedObject,
};
use crate::ports::state_store::StoreError;
use crate::ports::table_registry::TableRegistry;

/// Most notes one invocation's report keeps (the tally counts them all).
const MAX_NOTES: usize = 100;

/// What happened to one notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NoticeOutcome {
    /// A new record with this status.
    Recorded(FileStatus),
    /// The object version was already recorded (a duplicate delivery).
    Duplicate,
    /// Nothing to record: a test event, another event type, a folder marker, an object outside
    /// the staging prefix.
    Ignored,
    /// The notice could not be recorded; its message is redelivered.
    Failed,
    /// The notice could not be read; its message is redelivered, then dead-lettered.
    Unreadable,
}

/// Counts of one invocation, returned for direct invocations and logged for all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// New `landed` records (DMS files of registered tables), including `unregistered` ones
    /// whose table is now registered.
    pub recorded: usize,
    /// New `unregistered` records (DMS files of tables not registered).
    pub unregistered: usize,
    /// New or renewed `unrecognized` records.
    pub unrecognized: usize,
    /// Duplicate deliveries of recorded objects.
    pub duplicates: usize,
    /// Notices with nothing to record.
    pub ignored: usize,
    /// Notices that could not be recorded (retried).
    pub failed: usize,
    /// Messages or records that could not be read (redelivered, then dead-lettered).
    pub unreadable: usize,
}

impl Tally {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Tally) {
        self.recorded += other.recorded;
        self.unregistered += other.unregistered;
        self.unrecognized += other.unrecognized;
        self.duplicates += other.duplicates;
        self.ignored += other.ignored;
        self.failed += other.failed;
        self.unreadable += other.unreadable;
    }

    fn count(&mut self, outcome: NoticeOutcome) {
        match outcome {
            NoticeOutcome::Recorded(FileStatus::Unregistered) => self.unregistered += 1,
            NoticeOutcome::Recorded(FileStatus::Unrecognized) => self.unrecognized += 1,
            NoticeOutcome::Recorded(_) => self.recorded += 1,
            NoticeOutcome::Duplicate => self.duplicates += 1,
            NoticeOutcome::Ignored => self.ignored += 1,
            NoticeOutcome::Failed => self.failed += 1,
            NoticeOutcome::Unreadable => self.unreadable += 1,
        }
    }

    /// One structured log line with every count.
    fn log(&self, message: &str, messages: usize, retried_messages: usize) {
        info!(
            recorded = self.recorded,
            unregistered = self.unregistered,
            unrecognized = self.unrecognized,
            duplicates = self.duplicates,
            ignored = self.ignored,
            failed = self.failed,
            unreadable = self.unreadable,
            messages,
            retried_messages,
            "{message}"
        );
    }
}

/// One object the invocation did not record as a landed DMS file, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// The key (decoded when possible), or the message id of an unreadable message.
    pub key: String,
    /// `unregistered`, `unrecognized`, `ignored`, `unreadable` or `failed`.
    pub disposition: &'static str,
    /// Why.
    pub reason: String,
}

/// What one invocation did: the counts, and a note for each object not recorded as landed
/// (at most [`MAX_NOTES`]). The local runner prints it; Lambda logs it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Counts.
    #[serde(flatten)]
    pub tally: Tally,
    /// Objects not recorded as landed, with the reason.
    pub notes: Vec<Note>,
}

impl Report {
    fn note(&mut self, key: &str, disposition: &'static str, reason: impl ToString) {
        if self.notes.len() < MAX_NOTES {
            self.notes.push(Note {
                key: key.to_owned(),
                disposition,
                reason: reason.to_string(),
            });
        }
    }
}

/// The function's response.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum FileManagerResponse {
    /// For SQS invocations: the messages to redeliver.
    Batch(SqsBatchResponse),
    /// For direct invocations: what happened.
    Summary(Report),
}

/// One handled invocation: the response for Lambda and the report for people.
#[derive(Debug, Clone, PartialEq)]
pub struct Handled {
    /// What the function returns.
    pub response: FileManagerResponse,
    /// What it did.
    pub report: Report,
}

/// An invocation-level failure. Lambda retries the invocation (for async invokes), counts it in
/// the function's `Errors` metric and finally sends the event to the on-failure destination.
#[derive(Debug, Error)]
pub enum FileManagerError {
    /// The payload is none of the supported event shapes.
    #[error("unsupported invocation payload: {0}")]
    UnsupportedPayload(#[from] EventError),
    /// Some notices of a direct invocation could not be read or recorded.
    #[error(
        "{failed} of the invocation's notices could not be read or recorded in the file tracker; retrying"
    )]
    NotRecorded {
        /// How many.
        failed: usize,
    },
}

impl FileManagerError {
    /// A stable name for the error, reported to Lambda as the error type.
    pub fn kind(&self) -> &'static str {
        match self {
            FileManagerError::UnsupportedPayload(_) => "UnsupportedPayload",
            FileManagerError::NotRecorded { .. } => "NotRecorded",
        }
    }
}

/// What examining one notice found, before the registry is asked.
#[derive(Debug)]
enum Examination {
    /// Nothing to record, and why.
    Ignore(String),
    /// A DMS data file: `landed` or `unregistered`, as the registry says.
    DmsFile(LandedFile),
    /// Recorded as `unrecognized`.
    Unrecognized(UnrecognizedObject),
    /// The notice itself could not be read.
    Unreadable(EventError),
}

/// One notice on its way: where it came from and what it is.
struct Examined<'a> {
    message_id: &'a str,
    /// The object, when the notice names one.
    object: Option<&'a ObjectCreated>,
    /// A `tributary retry` request: a replaced `unrecognized` record is removed.
    reexamine: bool,
    examination: Examination,
}

/// The file-manager: a staging layout, a tracker to record into and the registry that says
/// which tables exist.
#[derive(Debug, Clone)]
pub struct FileManager<T, R> {
    layout: StagingLayout,
    tracker: T,
    registry: R,
    concurrency: usize,
}

impl<T: FileTracker, R: TableRegistry> FileManager<T, R> {
    /// A file-manager making at most `concurrency` tracker or registry requests at once.
    pub fn new(layout: StagingLayout, tracker: T, registry: R, concurrency: usize) -> Self {
        Self {
            layout,
            tracker,
            registry,
            concurrency: concurrency.max(1),
        }
    }

    /// Handles one Lambda invocation payload.
    pub async fn handle(&self, payload: &Value) -> Result<Handled, FileManagerError> {
        match parse_invocation(payload)? {
            Invocation::Queue(messages) => Ok(self.handle_queue(&messages).await),
            Invocation::Direct(notices) => self.handle_direct(&notices).await,
        }
    }

    /// An SQS batch: record what can be read, name the messages to redeliver.
    async fn handle_queue(&self, messages: &[QueuedNotices]) -> Handled {
        let mut report = Report::default();
        let mut to_retry = BTreeSet::new();
        let mut notices = Vec::new();
        for message in messages {
            match &message.notices {
                Ok(list) => notices.extend(list.iter().map(|n| (message.message_id.as_str(), n))),
                Err(problem) => {
                    error!(message_id = %message.message_id, error = %problem,
                        "unreadable message; it is redelivered and then dead-lettered");
                    report.tally.unreadable += 1;
                    report.note(&message.message_id, "unreadable", problem);
                    to_retry.insert(message.message_id.as_str());
                }
            }
        }
        for (message_id, outcome) in self.process(notices, &mut report).await {
            report.tally.count(outcome);
            if matches!(outcome, NoticeOutcome::Failed | NoticeOutcome::Unreadable) {
                to_retry.insert(message_id);
            }
        }
        let mut response = SqsBatchResponse::default();
        for message_id in to_retry {
            response.add_failure(message_id.to_owned());
        }
        report.tally.log(
            "batch handled",
            messages.len(),
            response.batch_item_failures.len(),
        );
        Handled {
            response: FileManagerResponse::Batch(response),
            report,
        }
    }

    /// A direct S3, SNS or EventBridge invocation: an error if anything could not be recorded.
    async fn handle_direct(&self, notices: &[Notice]) -> Result<Handled, FileManagerError> {
        let mut report = Report::default();
        let notices = notices.iter().map(|n| ("direct", n)).collect();
        for (_, outcome) in self.process(notices, &mut report).await {
            report.tally.count(outcome);
        }
        report.tally.log("event handled", 1, 0);
        match report.tally.failed + report.tally.unreadable {
            0 => Ok(Handled {
                response: FileManagerResponse::Summary(report.clone()),
                report,
            }),
            failed => Err(FileManagerError::NotRecorded { failed }),
        }
    }

    /// Examines every notice, asks the registry about their tables once each, then records them
    /// (bounded concurrency); returns each outcome with its message id.
    async fn process<'a>(
        &self,
        notices: Vec<(&'a str, &'a Notice)>,
        report: &mut Report,
    ) -> Vec<(&'a str, NoticeOutcome)> {
        let now = Utc::now();
        let examined: Vec<Examined<'a>> = notices
            .into_iter()
            .map(|(message_id, notice)| self.examine(message_id, notice, now))
            .collect();
        let registered = self.registered_tables(&examined).await;
        let outcomes: Vec<(NoticeOutcome, Option<String>)> = stream::iter(&examined)
            .map(|item| self.settle(item, &registered))
            .buffered(self.concurrency)
            .collect()
            .await;
        examined
            .iter()
            .zip(outcomes)
            .map(|(item, (outcome, reason))| {
                if let Some(reason) = reason {
                    let key = item.object.map_or_else(
                        || item.message_id.to_owned(),
                        |o| best_effort_decoding(&o.key),
                    );
                    report.note(&key, disposition(outcome), reason);
                }
                (item.message_id, outcome)
            })
            .collect()
    }

    fn examine<'a>(
        &self,
        message_id: &'a str,
        notice: &'a Notice,
        now: DateTime<Utc>,
    ) -> Examined<'a> {
        let (object, reexamine) = match notice {
            Notice::ObjectCreated(object) => (object, false),
            Notice::Reexamine(object) => (object, true),
            Notice::TestEvent => {
                return ignored(message_id, "s3:TestEvent: notifications are set up");
            }
            Notice::OtherEvent { name } => {
                return ignored(message_id, format!("{name}: not an object-created event"));
            }
            Notice::Unreadable(problem) => {
                return Examined {
                    message_id,
                    object: None,
                    reexamine: false,
                    examination: Examination::Unreadable(problem.clone()),
                };
            }
        };
        Examined {
            message_id,
            object: Some(object),
            reexamine,
            examination: self.examine_object(object, now),
        }
    }

    /// Whether `object` is a DMS data file, something else under the staging prefix, or not
    /// Tributary's at all.
    fn examine_object(&self, object: &ObjectCreated, now: DateTime<Utc>) -> Examination {
        let unrecognized = |key: String, reason: String| {
            Examination::Unrecognized(UnrecognizedObject {
                object: object.staged(key, now),
                reason,
            })
        };
        let key = match ObjectKey::from_event(&object.key) {
            Ok(key) => key,
            Err(rejection) => {
                let text = best_effort_decoding(&object.key);
                if object.bucket != self.layout.bucket() || !self.layout.is_under_folder(&text) {
                    return Examination::Ignore(format!(
                        "not under the staging prefix ({rejection})"
                    ));
                }
                return unrecognized(text, format!("rejected key: {rejection}"));
            }
        };
        match self.layout.classify(&object.bucket, &key) {
            Err(not_data) if not_data.is_staging_object() => {
                unrecognized(key.as_str().to_owned(), not_data.to_string())
            }
            Err(not_data) => Examination::Ignore(not_data.to_string()),
            Ok(file) => match LandedFile::new(object, key.clone(), file, now) {
                Ok(file) => Examination::DmsFile(file),
                Err(untrackable) => unrecognized(key.as_str().to_owned(), untrackable.to_string()),
            },
        }
    }

    /// Registration of every table the examined notices name: `Ok(true)` registered,
    /// `Ok(false)` not, `Err` when the registry could not say.
    async fn registered_tables(
        &self,
        examined: &[Examined<'_>],
    ) -> HashMap<String, Result<bool, StoreError>> {
        let ids: BTreeSet<String> = examined
            .iter()
            .filter_map(|item| match &item.examination {
                Examination::DmsFile(file) => Some(file.table.id()),
                _ => None,
            })
            .collect();
        stream::iter(ids)
            .map(|id| async move {
                let registered = self.registry.table(&id).await.map(|t| t.is_some());
                (id, registered)
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await
    }

    /// Records one examined notice; the reason is set for notes (everything not landed).
    async fn settle(
        &self,
        item: &Examined<'_>,
        registered: &HashMap<String, Result<bool, StoreError>>,
    ) -> (NoticeOutcome, Option<String>) {
        let arrival = match &item.examination {
            Examination::Ignore(reason) => {
                info!(message_id = item.message_id, reason = %reason, "nothing to record");
                return (NoticeOutcome::Ignored, Some(reason.clone()));
            }
            Examination::Unreadable(problem) => {
                error!(message_id = item.message_id, error = %problem,
                    "unreadable record; its message is redelivered and then dead-lettered");
                return (NoticeOutcome::Unreadable, Some(problem.to_string()));
            }
            Examination::Unrecognized(object) => Arrival::Unrecognized(object.clone()),
            Examination::DmsFile(file) => match registered.get(&file.table.id()) {
                Some(Ok(true)) => Arrival::Landed(file.clone()),
                Some(Ok(false)) => Arrival::Unregistered(file.clone()),
                Some(Err(e)) => return self.failed(item, &e.to_string()),
                None => return self.failed(item, "the table registry was not asked"),
            },
        };
        match self.tracker.record(&arrival).await {
            Ok(outcome) => self.recorded(item, &arrival, outcome).await,
            Err(e) => self.failed(item, &e.to_string()),
        }
    }

    async fn recorded(
        &self,
        item: &Examined<'_>,
        arrival: &Arrival,
        outcome: RecordOutcome,
    ) -> (NoticeOutcome, Option<String>) {
        let (key, reason) = match arrival {
            Arrival::Landed(file) => (file.key.as_str(), None),
            Arrival::Unregistered(file) => (
                file.key.as_str(),
                Some(format!("table {} is not registered", file.table.id())),
            ),
            Arrival::Unrecognized(unrecognized) => (
                unrecognized.object.key.as_str(),
                Some(unrecognized.reason.clone()),
            ),
        };
        if item.reexamine && !matches!(arrival, Arrival::Unrecognized(_)) {
            let previous = self.previous_unrecognized(item, key);
            if let Err(e) = self.tracker.forget_unrecognized(&previous).await {
                return self.failed(item, &format!("could not remove the old record: {e}"));
            }
        }
        let status = arrival.status().as_str();
        match outcome {
            RecordOutcome::Recorded => {
                info!(
                    message_id = item.message_id,
                    key,
                    status,
                    reason = reason.as_deref().unwrap_or(""),
                    "recorded"
                );
                (NoticeOutcome::Recorded(arrival.status()), reason)
            }
            RecordOutcome::AlreadyRecorded => {
                info!(
                    message_id = item.message_id,
                    key, status, "duplicate delivery of a recorded object; nothing changed"
                );
                (NoticeOutcome::Duplicate, None)
            }
        }
    }

    /// The `unrecognized` record a re-examined object may have had (its key and version).
    fn previous_unrecognized(&self, item: &Examined<'_>, key: &str) -> UnrecognizedObject {
        let object = item.object;
        UnrecognizedObject {
            object: StagedObject {
                bucket: self.layout.bucket().to_owned(),
                key: key.to_owned(),
                size: None,
                etag: object.and_then(|o| o.etag.clone()),
                version_id: object.and_then(|o| o.version_id.clone()),
                sequencer: None,
                landed_at: DateTime::UNIX_EPOCH,
            },
            reason: String::new(),
        }
    }

    fn failed(&self, item: &Examined<'_>, error: &str) -> (NoticeOutcome, Option<String>) {
        let key = item.object.map_or("", |o| o.key.as_received());
        error!(
            message_id = item.message_id,
            key, error, "could not record the object; it will be retried"
        );
        (NoticeOutcome::Failed, Some(error.to_owned()))
    }
}

fn ignored<'a>(message_id: &'a str, reason: impl Into<String>) -> Examined<'a> {
    Examined {
        message_id,
        object: None,
        reexamine: false,
        examination: Examination::Ignore(reason.into()),
    }
}

fn disposition(outcome: NoticeOutcome) -> &'static str {
    match outcome {
        NoticeOutcome::Recorded(status) => status.as_str(),
        NoticeOutcome::Duplicate => "duplicate",
        NoticeOutcome::Ignored => "ignored",
        NoticeOutcome::Failed => "failed",
        NoticeOutcome::Unreadable => "unreadable",
    }
}

/// The key as well as it can be decoded (for a record of a key that failed validation).
fn best_effort_decoding(key: &EventKey) -> String {
    match key {
        EventKey::Verbatim(text) => text.clone(),
        EventKey::FormEncoded(text) => {
            percent_encoding::percent_decode_str(&text.replace('+', " "))
                .decode_utf8()
                .map_or_else(|_| text.clone(), |decoded| decoded.into_owned())
        }
    }
}

#[cfg(test)]
#[path = "file_manager_test.rs"]
mod tests;
