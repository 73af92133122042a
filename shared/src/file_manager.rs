//! The file-manager service: turns object-created events into file-tracker items.
//!
//! Message handling rules (docs/DESIGN.md, "file-manager"):
//! - a notice that is not DMS data, or whose key is rejected, is skipped with a logged reason;
//! - a message whose body cannot be read is logged and dropped (it would fail the same way again);
//! - a message with a notice the tracker could not record is reported in `batchItemFailures`, so SQS
//!   redelivers it (and eventually moves it to the DLQ) — nothing the message carried is lost;
//! - direct invocations return an error when a notice could not be recorded, so Lambda retries.

use std::collections::BTreeSet;

use aws_lambda_events::event::sqs::SqsBatchResponse;
use chrono::Utc;
use futures::{StreamExt, stream};
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;
use tracing::{error, info, warn};

use crate::dms_layout::{NotDmsData, StagingLayout};
use crate::file_tracker::{FileTracker, LandedFile, RecordOutcome};
use crate::object_key::ObjectKey;
use crate::s3_events::{
    EventError, Invocation, Notice, ObjectCreated, QueuedNotices, parse_invocation,
};
use crate::state_store::StoreError;

/// What happened to one notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NoticeOutcome {
    /// A new tracker item.
    Recorded,
    /// The object version was already tracked (a duplicate delivery).
    Duplicate,
    /// Nothing to record: a test event, another event type, or an object that is not DMS data.
    Skipped,
    /// The key or event is unusable (path tricks, undecodable key, no ETag/version id).
    Rejected,
    /// The tracker write failed; the notice must be retried.
    Failed,
}

/// Counts of one invocation, returned for direct invocations and logged for all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// New tracker items.
    pub recorded: usize,
    /// Duplicate deliveries of tracked objects.
    pub duplicates: usize,
    /// Notices with nothing to record.
    pub skipped: usize,
    /// Unusable keys or events.
    pub rejected: usize,
    /// Notices that could not be recorded (retried).
    pub failed: usize,
    /// SQS messages whose body could not be read (dropped).
    pub unreadable_messages: usize,
}

impl Tally {
    fn count(&mut self, outcome: NoticeOutcome) {
        match outcome {
            NoticeOutcome::Recorded => self.recorded += 1,
            NoticeOutcome::Duplicate => self.duplicates += 1,
            NoticeOutcome::Skipped => self.skipped += 1,
            NoticeOutcome::Rejected => self.rejected += 1,
            NoticeOutcome::Failed => self.failed += 1,
        }
    }

    /// One structured log line with every count.
    fn log(&self, message: &str, messages: usize, retried_messages: usize) {
        info!(
            recorded = self.recorded,
            duplicates = self.duplicates,
            skipped = self.skipped,
            rejected = self.rejected,
            failed = self.failed,
            unreadable_messages = self.unreadable_messages,
            messages,
            retried_messages,
            "{message}"
        );
    }
}

/// The function's response.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum FileManagerResponse {
    /// For SQS invocations: the messages to redeliver.
    Batch(SqsBatchResponse),
    /// For direct invocations: what happened.
    Summary(Tally),
}

/// An invocation-level failure. Lambda retries the invocation (for async invokes) and counts it
/// in the function's `Errors` metric.
#[derive(Debug, Error)]
pub enum FileManagerError {
    /// The payload is none of the supported event shapes.
    #[error("unsupported invocation payload: {0}")]
    UnsupportedPayload(#[from] EventError),
    /// Some notices of a direct invocation could not be recorded.
    #[error(
        "{failed} of the invocation's objects could not be recorded in the file tracker; retrying"
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

/// The file-manager: a staging layout and a tracker to record into.
#[derive(Debug, Clone)]
pub struct FileManager<T> {
    layout: StagingLayout,
    tracker: T,
    concurrency: usize,
}

impl<T: FileTracker> FileManager<T> {
    /// A file-manager writing at most `concurrency` tracker items at once.
    pub fn new(layout: StagingLayout, tracker: T, concurrency: usize) -> Self {
        Self {
            layout,
            tracker,
            concurrency: concurrency.max(1),
        }
    }

    /// Handles one Lambda invocation payload.
    pub async fn handle(&self, payload: &Value) -> Result<FileManagerResponse, FileManagerError> {
        match parse_invocation(payload)? {
            Invocation::Queue(messages) => Ok(FileManagerResponse::Batch(
                self.handle_queue(messages).await,
            )),
            Invocation::Direct(notices) => self
                .handle_direct(notices)
                .await
                .map(FileManagerResponse::Summary),
        }
    }

    /// An SQS batch: drop unreadable messages, record the rest, name the messages to redeliver.
    async fn handle_queue(&self, messages: Vec<QueuedNotices>) -> SqsBatchResponse {
        let mut tally = Tally::default();
        let message_count = messages.len();
        let readable: Vec<(String, Vec<Notice>)> = messages
            .into_iter()
            .filter_map(|message| match message.notices {
                Ok(notices) => Some((message.message_id, notices)),
                Err(problem) => {
                    error!(message_id = %message.message_id, error = %problem,
                        "dropping an unreadable message");
                    tally.unreadable_messages += 1;
                    None
                }
            })
            .collect();
        let outcomes = self
            .process(
                readable.iter().flat_map(|(id, notices)| {
                    notices.iter().map(move |notice| (id.as_str(), notice))
                }),
            )
            .await;
        let mut to_retry = BTreeSet::new();
        for (message_id, outcome) in outcomes {
            tally.count(outcome);
            if outcome == NoticeOutcome::Failed {
                to_retry.insert(message_id);
            }
        }
        let mut response = SqsBatchResponse::default();
        for message_id in to_retry {
            response.add_failure(message_id);
        }
        tally.log(
            "batch handled",
            message_count,
            response.batch_item_failures.len(),
        );
        response
    }

    /// A direct S3 or EventBridge invocation: an error if anything could not be recorded.
    async fn handle_direct(&self, notices: Vec<Notice>) -> Result<Tally, FileManagerError> {
        let mut tally = Tally::default();
        for (_, outcome) in self.process(notices.iter().map(|n| ("direct", n))).await {
            tally.count(outcome);
        }
        tally.log("event handled", 1, 0);
        match tally.failed {
            0 => Ok(tally),
            failed => Err(FileManagerError::NotRecorded { failed }),
        }
    }

    /// Handles notices concurrently (bounded), returning each outcome with its message id.
    async fn process<'a>(
        &self,
        notices: impl Iterator<Item = (&'a str, &'a Notice)>,
    ) -> Vec<(&'a str, NoticeOutcome)> {
        stream::iter(notices)
            .map(|(message_id, notice)| async move {
                (message_id, self.handle_notice(message_id, notice).await)
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await
    }

    async fn handle_notice(&self, message_id: &str, notice: &Notice) -> NoticeOutcome {
        let object = match notice {
            Notice::ObjectCreated(object) => object,
            Notice::TestEvent => {
                info!(
                    message_id,
                    "s3:TestEvent: notifications are set up; nothing to record"
                );
                return NoticeOutcome::Skipped;
            }
            Notice::OtherEvent { name } => {
                info!(message_id, event = %name, "not an object-created event; nothing to record");
                return NoticeOutcome::Skipped;
            }
        };
        match self.landed_file(object) {
            Ok(file) => self.record(message_id, &file).await,
            Err(NotRecordable::NotDmsData(reason)) => {
                info!(message_id, bucket = %object.bucket, key = %object.encoded_key,
                    reason = %reason, "skipped: not a DMS data file");
                NoticeOutcome::Skipped
            }
            Err(NotRecordable::Rejected(reason)) => {
                warn!(message_id, bucket = %object.bucket, key = %object.encoded_key,
                    reason = %reason, "rejected object");
                NoticeOutcome::Rejected
            }
        }
    }

    fn landed_file(&self, object: &ObjectCreated) -> Result<LandedFile, NotRecordable> {
        let key = ObjectKey::from_event_encoding(&object.encoded_key)
            .map_err(|e| NotRecordable::Rejected(e.to_string()))?;
        let file = self
            .layout
            .classify(&object.bucket, &key)
            .map_err(NotRecordable::NotDmsData)?;
        LandedFile::new(object, key, file, Utc::now())
            .map_err(|e| NotRecordable::Rejected(e.to_string()))
    }

    async fn record(&self, message_id: &str, file: &LandedFile) -> NoticeOutcome {
        let table_id = file.table.id();
        match self.tracker.record_landed(file).await {
            Ok(RecordOutcome::Recorded) => {
                info!(message_id, table_id = %table_id, key = %file.key, kind = file.kind.as_str(),
                    order_key = %file.order_key, "recorded landed file");
                NoticeOutcome::Recorded
            }
            Ok(RecordOutcome::AlreadyRecorded) => {
                info!(message_id, table_id = %table_id, key = %file.key,
                    "duplicate delivery of a tracked file; nothing changed");
                NoticeOutcome::Duplicate
            }
            Err(e) => {
                let throttled = matches!(e, StoreError::Throttled { .. });
                error!(message_id, table_id = %table_id, key = %file.key, error = %e, throttled,
                    "could not record landed file; it will be retried");
                NoticeOutcome::Failed
            }
        }
    }
}

enum NotRecordable {
    NotDmsData(NotDmsData),
    Rejected(String),
}
