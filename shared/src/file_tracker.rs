//! The file tracker: the durable record of every DMS file that landed in the staging bucket.
//!
//! This module is the port; `adapters::dynamodb_file_tracker` is the DynamoDB implementation.
//! Invariant (see docs/DESIGN.md): one item per object version — the identity is the table, the
//! file's place in the table order (derived from its key) and the object version (S3 version id,
//! else ETag). Recording is a conditional create, so any number of deliveries of one object, in any
//! order and concurrently, leave exactly one item.

use std::future::Future;

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::dms_layout::{DmsFile, FileFormat, FileKind, OrderKey, SourceTable};
use crate::object_key::ObjectKey;
use crate::s3_events::ObjectCreated;

/// Lifecycle of a tracked file. Only `landed` exists until the processor marks files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    /// Recorded by the file-manager, waiting to be applied.
    Landed,
}

impl FileStatus {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            FileStatus::Landed => "landed",
        }
    }
}

/// Everything the processor needs about a landed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LandedFile {
    /// Source table (`schema/table` folders).
    pub table: SourceTable,
    /// Staging bucket.
    pub bucket: String,
    /// Decoded object key.
    pub key: ObjectKey,
    /// Size in bytes, when the event carried it.
    pub size: Option<u64>,
    /// ETag without quotes.
    pub etag: Option<String>,
    /// S3 version id (versioned buckets).
    pub version_id: Option<String>,
    /// S3 event sequencer.
    pub sequencer: Option<String>,
    /// Full load or CDC.
    pub kind: FileKind,
    /// CSV, gzipped CSV or Parquet.
    pub format: FileFormat,
    /// Place in the table's file order.
    pub order_key: OrderKey,
    /// When the object was created in S3 (event time), else when it was first seen.
    pub landed_at: DateTime<Utc>,
}

/// An object-created notice that cannot be tracked because nothing tells its versions apart.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "the event for `{key}` has neither a version id nor an ETag, so a duplicate delivery could not be told from a new version"
)]
pub struct UnidentifiableObject {
    /// The decoded key.
    pub key: String,
}

impl LandedFile {
    /// Combines an event's object facts with the key's classification.
    pub fn new(
        object: &ObjectCreated,
        key: ObjectKey,
        file: DmsFile,
        first_seen: DateTime<Utc>,
    ) -> Result<Self, UnidentifiableObject> {
        if object.version_id.is_none() && object.etag.is_none() {
            return Err(UnidentifiableObject {
                key: key.as_str().to_owned(),
            });
        }
        Ok(Self {
            table: file.table,
            bucket: object.bucket.clone(),
            key,
            size: object.size,
            etag: object.etag.clone(),
            version_id: object.version_id.clone(),
            sequencer: object.sequencer.clone(),
            kind: file.kind,
            format: file.format,
            order_key: file.order_key,
            landed_at: object.event_time.unwrap_or(first_seen),
        })
    }

    /// What distinguishes two versions of one key: the version id if the bucket is versioned,
    /// else the ETag. Construction guarantees one of them exists.
    pub fn object_version(&self) -> &str {
        self.version_id
            .as_deref()
            .or(self.etag.as_deref())
            .unwrap_or_default()
    }
}

/// Result of recording a landed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// A new item was written.
    Recorded,
    /// The same object version was already recorded (a duplicate delivery); nothing changed.
    AlreadyRecorded,
}

/// A failure to reach or write the tracker. Never the message's fault: the notice must be kept and
/// retried (through the queue's redrive policy, or Lambda's async retries).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TrackerError {
    /// The store asked us to slow down.
    #[error("throttled by the file tracker: {0}")]
    Throttled(String),
    /// The store refused the request (missing table, access denied, validation, server error).
    #[error("the file tracker refused the write ({code}): {message}")]
    Refused {
        /// Service error code.
        code: String,
        /// Service error message.
        message: String,
    },
    /// The request did not complete (connection, timeout, unreadable response).
    #[error("the file tracker could not be reached: {0}")]
    Unreachable(String),
}

/// The port the file-manager writes through.
pub trait FileTracker: Send + Sync {
    /// Records `file` with status `landed` unless this object version is already recorded.
    fn record_landed(
        &self,
        file: &LandedFile,
    ) -> impl Future<Output = Result<RecordOutcome, TrackerError>> + Send;
}

#[cfg(test)]
#[path = "file_tracker_test.rs"]
mod tests;
