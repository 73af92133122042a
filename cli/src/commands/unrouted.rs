//! Objects of the staging prefix that are in no table's backlog — DMS files of unregistered
//! tables and unrecognized objects — as `status`, `files` and `retry` show and re-examine them.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tributary_shared::domain::s3_events::StagedObject;
use tributary_shared::ports::file_tracker::{FileStatus, UnroutedRecord};

use crate::connection::Session;

/// Most messages one SQS `SendMessageBatch` takes.
const SEND_BATCH: usize = 10;

/// What `status` says about unrouted objects.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UnroutedSummary {
    /// Objects that are not DMS data files Tributary can apply.
    pub unrecognized: usize,
    /// DMS files of tables that are not registered.
    pub unregistered: usize,
    /// Unregistered files per table id.
    pub unregistered_tables: BTreeMap<String, usize>,
}

impl UnroutedSummary {
    /// Counts `records`.
    pub fn of(records: &[UnroutedRecord]) -> UnroutedSummary {
        let mut summary = UnroutedSummary::default();
        for record in records {
            match (&record.status, &record.table_id) {
                (FileStatus::Unregistered, Some(table)) => {
                    summary.unregistered += 1;
                    *summary
                        .unregistered_tables
                        .entry(table.clone())
                        .or_default() += 1;
                }
                _ => summary.unrecognized += 1,
            }
        }
        summary
    }

    /// Whether anything waits for an operator.
    pub fn needs_attention(&self) -> bool {
        self.unrecognized + self.unregistered > 0
    }

    /// The lines `status` prints (none when nothing is unrouted).
    pub fn describe(&self) -> String {
        let mut text = String::new();
        if self.unrecognized > 0 {
            text.push_str(&format!(
                "{} unrecognized object(s) under the staging prefix: see `tributary files \
                 --status unrecognized`; after fixing the configuration, `tributary retry \
                 --unrouted`\n",
                self.unrecognized
            ));
        }
        for (table, count) in &self.unregistered_tables {
            text.push_str(&format!(
                "{count} file(s) of unregistered table {table}: register it (`tributary config \
                 apply`), then `tributary retry --table {table}`\n"
            ));
        }
        text
    }
}

/// An unrouted record as `files --json` prints it.
#[derive(Debug, Serialize)]
pub struct UnroutedRow {
    /// The key.
    pub key: String,
    /// `unregistered` or `unrecognized`.
    pub status: &'static str,
    /// The table of an unregistered file.
    pub table: Option<String>,
    /// Bytes.
    pub size: Option<u64>,
    /// When it landed.
    pub landed_at: DateTime<Utc>,
    /// Why it is not applied.
    pub reason: String,
}

impl From<&UnroutedRecord> for UnroutedRow {
    fn from(record: &UnroutedRecord) -> UnroutedRow {
        UnroutedRow {
            key: record.key.clone(),
            status: record.status.as_str(),
            table: record.table_id.clone(),
            size: record.size,
            landed_at: record.landed_at,
            reason: record.reason.clone(),
        }
    }
}

/// Every unrouted record.
pub async fn list(session: &Session) -> Result<Vec<UnroutedRecord>> {
    session
        .file_tracker()
        .unrouted()
        .await
        .context("cannot list the unregistered and unrecognized objects")
}

/// Sends `records` to the file-events queue as re-examination requests: the file-manager records
/// each again under its current configuration (and the registry as it is now).
pub async fn reexamine(session: &Session, records: &[UnroutedRecord]) -> Result<()> {
    let sqs = aws_sdk_sqs::Client::new(&session.sdk);
    let queue_url = sqs
        .get_queue_url()
        .queue_name(&session.names.file_events_queue)
        .send()
        .await
        .with_context(|| format!("cannot find the queue {}", session.names.file_events_queue))?
        .queue_url()
        .map(str::to_owned)
        .context("the file-events queue has no URL")?;
    for chunk in records.chunks(SEND_BATCH) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, record)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(request(record).message_body())
                    .build()
                    .context("cannot build a re-examination message")
            })
            .collect::<Result<Vec<_>>>()?;
        let sent = sqs
            .send_message_batch()
            .queue_url(&queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .context("cannot send re-examination requests to the file-events queue")?;
        if let Some(failed) = sent.failed().first() {
            anyhow::bail!(
                "the file-events queue refused a re-examination request: {}",
                failed.message().unwrap_or(failed.code())
            );
        }
    }
    Ok(())
}

fn request(record: &UnroutedRecord) -> StagedObject {
    StagedObject {
        bucket: record.bucket.clone(),
        key: record.key.clone(),
        size: record.size,
        etag: record.etag.clone(),
        version_id: record.version_id.clone(),
        sequencer: record.sequencer.clone(),
        landed_at: record.landed_at,
    }
}
