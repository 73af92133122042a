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

use crate::domain::dms_layout::{DmsFile, FileFormat, FileKind, OrderKey, SourceTable};
use crate::domain::object_key::ObjectKey;
use crate::domain::s3_events::{ObjectCreated, StagedObject};
use crate::ports::processing_tracker::Lease;
use crate::ports::state_store::StoreError;

/// Lifecycle of a tracked object: `landed` → `processed`, or `landed` → `quarantined` after the
/// same failure [`crate::services::processor::ProcessorSettings::quarantine_after`] times, or `landed` →
/// `superseded` when another version of the same key replaces it. Objects of the staging prefix
/// that are not (yet) a table's DMS files are recorded too, as `unregistered` or `unrecognized`,
/// so nothing that lands is dropped without a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    /// A DMS data file of a table no configuration names yet; it waits outside every backlog
    /// until the table is registered and `tributary retry` re-examines it.
    Unregistered,
    /// Not a DMS data file Tributary can apply (unknown layout, a `PreserveTransactions` file,
    /// a key with path tricks, too long to track, …); recorded with the reason, and re-examined
    /// by `tributary retry` after a configuration change.
    Unrecognized,
    /// Recorded by the file-manager, waiting to be applied.
    Landed,
    /// Applied to the lake and published; kept as history until its TTL.
    Processed,
    /// Failed the same way too often; needs a fix and a retry. It stays in the table's backlog
    /// (blocking it) unless the table's `on_bad_file` is `skip`.
    Quarantined,
    /// Never applied: the recorded object version no longer exists (the key was overwritten or
    /// the version deleted), or a newer version of the same key is tracked. Not a failure.
    Superseded,
}

impl FileStatus {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            FileStatus::Landed => "landed",
            FileStatus::Processed => "processed",
            FileStatus::Quarantined => "quarantined",
            FileStatus::Superseded => "superseded",
            FileStatus::Unregistered => "unregistered",
            FileStatus::Unrecognized => "unrecognized",
        }
    }

    /// The status whose stored value is `name`.
    pub fn from_name(name: &str) -> Option<FileStatus> {
        [
            FileStatus::Landed,
            FileStatus::Processed,
            FileStatus::Quarantined,
            FileStatus::Superseded,
            FileStatus::Unregistered,
            FileStatus::Unrecognized,
        ]
        .into_iter()
        .find(|status| status.as_str() == name)
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

/// The longest tracker id (`<order key>#<object version>`, the DynamoDB sort key) in bytes.
pub const MAX_FILE_ID_BYTES: usize = 1024;

/// Why a DMS data file's notice cannot become a tracked file of its table.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UntrackableFile {
    /// Nothing tells the object's versions apart.
    #[error(
        "the event has neither a version id nor an ETag, so a duplicate delivery could not be told from a new version"
    )]
    NoVersion,
    /// The tracker id would exceed [`MAX_FILE_ID_BYTES`].
    #[error(
        "its path under the table folder is too long to track ({bytes} bytes with the object version; at most {MAX_FILE_ID_BYTES}); fix: shorten the DMS bucket folder or partition folder names"
    )]
    TooLong {
        /// Bytes the tracker id would take.
        bytes: usize,
    },
}

impl LandedFile {
    /// Combines an event's object facts with the key's classification.
    pub fn new(
        object: &ObjectCreated,
        key: ObjectKey,
        file: DmsFile,
        first_seen: DateTime<Utc>,
    ) -> Result<Self, UntrackableFile> {
        if object.version_id.is_none() && object.etag.is_none() {
            return Err(UntrackableFile::NoVersion);
        }
        let version = object.version_id.as_ref().or(object.etag.as_ref());
        let bytes = file.order_key.as_str().len() + 1 + version.map_or(0, String::len);
        if bytes > MAX_FILE_ID_BYTES {
            return Err(UntrackableFile::TooLong { bytes });
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

/// An object of the staging prefix that is not a DMS data file Tributary can apply, recorded
/// with the reason so it is never dropped without a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnrecognizedObject {
    /// The object (its key as received when it cannot be decoded; landed when S3 created it,
    /// else when it was first seen).
    pub object: StagedObject,
    /// Why it is not applied, and what to do about it.
    pub reason: String,
}

/// What the file-manager records for one announced object version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrival {
    /// A DMS data file of a registered table: `landed`, in its table's backlog.
    Landed(LandedFile),
    /// A DMS data file of a table that is not registered: `unregistered`, in no backlog.
    Unregistered(LandedFile),
    /// Anything else under the staging prefix: `unrecognized`, with the reason.
    Unrecognized(UnrecognizedObject),
}

impl Arrival {
    /// The status the record gets.
    pub fn status(&self) -> FileStatus {
        match self {
            Arrival::Landed(_) => FileStatus::Landed,
            Arrival::Unregistered(_) => FileStatus::Unregistered,
            Arrival::Unrecognized(_) => FileStatus::Unrecognized,
        }
    }
}

/// Result of recording an arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// A new record was written (or an `unregistered` one became `landed`, or an
    /// `unrecognized` one got its reason renewed by a re-examination).
    Recorded,
    /// The same object version was already recorded (a duplicate delivery); nothing changed.
    AlreadyRecorded,
}

/// The port the file-manager writes through.
pub trait FileTracker: Send + Sync {
    /// Records an arrival once per object version:
    /// - `Landed` creates the file, or turns its `unregistered` record into a `landed` one (the
    ///   table was registered since); any other existing record is a duplicate;
    /// - `Unregistered` creates the record unless the file is already recorded;
    /// - `Unrecognized` creates the record, or renews the reason of an `unrecognized` one.
    fn record(
        &self,
        arrival: &Arrival,
    ) -> impl Future<Output = Result<RecordOutcome, StoreError>> + Send;

    /// Removes the `unrecognized` record of `object` (bucket, key, version): a re-examination
    /// has recorded it as a DMS data file. Removing a missing record is not an error.
    fn forget_unrecognized(
        &self,
        object: &UnrecognizedObject,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A file of a table's backlog, as the processor reads it from the tracker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BacklogFile {
    /// Tracker id: `<order key>#<object version>`; unique within the table.
    pub id: String,
    /// Staging bucket.
    pub bucket: String,
    /// Decoded object key.
    pub key: String,
    /// Size in bytes, when known.
    pub size: Option<u64>,
    /// Full load or CDC.
    pub kind: FileKind,
    /// Encoding.
    pub format: FileFormat,
    /// Place in the table order.
    pub order_key: String,
    /// When the object landed.
    pub landed_at: DateTime<Utc>,
    /// `landed`, or `quarantined` when a quarantined file blocks the table.
    pub status: FileStatus,
    /// How many consecutive refreshes failed on this file with the same failure (the same
    /// `last_fingerprint`).
    pub failures: u32,
    /// The error of the last failed refresh of this file.
    pub last_error: Option<String>,
    /// The fingerprint of that failure; absent on items whose last failure was recorded before
    /// fingerprints were.
    pub last_fingerprint: Option<FailureFingerprint>,
    /// ETag recorded when the object landed.
    pub etag: Option<String>,
    /// S3 version id recorded when the object landed (versioned buckets).
    pub version_id: Option<String>,
    /// S3 event sequencer recorded when the object landed.
    pub sequencer: Option<String>,
    /// A refresh that started applying the file and recorded no outcome for it yet.
    pub attempt: Option<FileAttempt>,
}

impl BacklogFile {
    /// This file as one version of its key.
    pub fn as_version(&self) -> KeyVersion {
        KeyVersion {
            id: self.id.clone(),
            order_key: self.order_key.clone(),
            status: self.status,
            sequencer: self.sequencer.clone(),
            landed_at: self.landed_at,
        }
    }
}

/// A refresh attempt recorded on a file before the refresh applied it: if the processor dies
/// while applying, the attempt stays, and the next processor sees the file may be what killed
/// it (docs/DESIGN.md §11, poison files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileAttempt {
    /// The refresh that started applying the file.
    pub refresh_id: String,
    /// The fencing token of the lease that refresh held.
    pub token: u64,
    /// How many files that refresh applied together (1: the file alone).
    pub files: u32,
}

/// One tracked version of an object key (any status), to tell which version of a key is the
/// one to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVersion {
    /// Tracker id: `<order key>#<object version>`.
    pub id: String,
    /// The key's place in the table order (equal for every version of one key).
    pub order_key: String,
    /// Its status.
    pub status: FileStatus,
    /// S3 event sequencer, when recorded.
    pub sequencer: Option<String>,
    /// When the version landed.
    pub landed_at: DateTime<Utc>,
}

impl KeyVersion {
    /// Whether this version was written after `other` (a version of the same key): by the S3
    /// sequencers when both have one (hexadecimal, the shorter left-padded with zeros), else by
    /// landing time, then by id so that the answer is never a tie.
    pub fn is_newer_than(&self, other: &KeyVersion) -> bool {
        let by_sequencer = match (&self.sequencer, &other.sequencer) {
            (Some(mine), Some(theirs)) => compare_sequencers(mine, theirs),
            _ => std::cmp::Ordering::Equal,
        };
        by_sequencer
            .then(self.landed_at.cmp(&other.landed_at))
            .then(self.id.cmp(&other.id))
            .is_gt()
    }
}

/// Orders two S3 sequencers of one key: hexadecimal strings of possibly different lengths,
/// compared after left-padding the shorter with zeros (as the S3 documentation prescribes).
fn compare_sequencers(a: &str, b: &str) -> std::cmp::Ordering {
    let width = a.len().max(b.len());
    let pad = |s: &str| format!("{:0>width$}", s.to_ascii_uppercase());
    pad(a).cmp(&pad(b))
}

/// A file that will never be applied because another version of its key replaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupersededFile {
    /// Tracker id of the file.
    pub file_id: String,
    /// Why: the newer version's tracker id, or that the recorded version no longer exists.
    pub reason: String,
}

/// How much of a backlog one refresh takes: at most `max_files` files and, after the first file,
/// at most `max_bytes` bytes (a single file larger than `max_bytes` is still taken, alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BacklogLimit {
    /// Most files per refresh.
    pub max_files: usize,
    /// Most stored bytes per refresh; the merge engine also holds the refresh to this many
    /// decompressed bytes.
    pub max_bytes: u64,
}

impl BacklogLimit {
    /// Whether `next` still fits after `taken` files of `taken_bytes` bytes.
    pub fn admits(&self, taken: usize, taken_bytes: u64, next: &BacklogFile) -> bool {
        taken == 0
            || (taken < self.max_files
                && taken_bytes.saturating_add(next.size.unwrap_or(0)) <= self.max_bytes)
    }
}

/// The stable identity of a failure, stored beside its text: what failed and how (e.g.
/// `merge/bad_file/csv`), without the details the text carries. Repeated failures of a file are
/// counted by it, never by comparing texts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FailureFingerprint(String);

impl FailureFingerprint {
    /// The fingerprint `value` (as made by the processor, or read back from an item).
    pub fn new(value: impl Into<String>) -> Self {
        FailureFingerprint(value.into())
    }

    /// The stored value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A failed attempt to apply a file, as the processor records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFailure {
    /// Tracker id of the file.
    pub file_id: String,
    /// Consecutive failures with this fingerprint (1 when the failure changed).
    pub failures: u32,
    /// The error.
    pub error: String,
    /// The failure's fingerprint; `None` keeps the stored one (a failure recorded again as it
    /// was).
    pub fingerprint: Option<FailureFingerprint>,
    /// The status to store: `landed` (retried next refresh) or `quarantined`.
    pub status: FileStatus,
    /// Whether the file stays in the backlog (false only for a quarantined file of a table
    /// configured with `on_bad_file: skip`).
    pub keep_pending: bool,
}

/// The port the processor reads backlogs and records file outcomes through. Every write is
/// fenced: it happens only while `lease` is still held.
pub trait FileBacklog: Send + Sync {
    /// The table's pending files (landed or blocking-quarantined) in table order, as many as
    /// `limit` admits, read with a Query of the pending index (never a Scan).
    fn pending(
        &self,
        table_id: &str,
        limit: BacklogLimit,
    ) -> impl Future<Output = Result<Vec<BacklogFile>, StoreError>> + Send;

    /// Marks files `processed` by `refresh_id`, removes them from the backlog and sets their TTL.
    /// Idempotent; fails with [`StoreError::LeaseLost`] once the lease is gone.
    fn mark_processed(
        &self,
        lease: &Lease,
        file_ids: &[String],
        refresh_id: &str,
        processed_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records a failed attempt on one file (count, error, maybe quarantine) and clears its
    /// attempt.
    fn record_failure(
        &self,
        lease: &Lease,
        failure: &FileFailure,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records on each of `file_ids` that `refresh_id` starts applying them together (before
    /// it reads them), so that a processor dying meanwhile leaves a trace. Marking the files
    /// processed, superseded or failed, or [`FileBacklog::end_attempt`], clears it.
    fn start_attempt(
        &self,
        lease: &Lease,
        file_ids: &[String],
        refresh_id: &str,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Clears the attempt of files a refresh started but did not apply (it failed, or left
    /// them for the next refresh).
    fn end_attempt(
        &self,
        lease: &Lease,
        file_ids: &[String],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Marks a file `superseded`: it leaves the backlog and is never applied; `expires_at` is
    /// its TTL.
    fn mark_superseded(
        &self,
        lease: &Lease,
        file: &SupersededFile,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every tracked version (any status, until its TTL) of the keys whose order keys are
    /// `order_keys`, read with one Query of the table's items between the least and the
    /// greatest of them (never a Scan).
    fn key_versions(
        &self,
        table_id: &str,
        order_keys: &[&str],
    ) -> impl Future<Output = Result<Vec<KeyVersion>, StoreError>> + Send;
}

/// A tracked file as listings show it: the backlog view plus what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedFile {
    /// The file (id, key, kind, status, failures, last error, …).
    pub file: BacklogFile,
    /// Whether it is in the table's backlog (landed, or quarantined and blocking).
    pub pending: bool,
    /// The refresh that applied it.
    pub refresh_id: Option<String>,
    /// When it was applied.
    pub processed_at: Option<DateTime<Utc>>,
    /// Why it was superseded, when it was.
    pub superseded_by: Option<String>,
}

/// An `unregistered` or `unrecognized` record, as listings show it and `tributary retry` sends
/// it back for re-examination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnroutedRecord {
    /// `unregistered` or `unrecognized`.
    pub status: FileStatus,
    /// The table id of an unregistered DMS file (none for unrecognized objects).
    pub table_id: Option<String>,
    /// Staging bucket.
    pub bucket: String,
    /// The decoded key (as received when it could not be decoded).
    pub key: String,
    /// Size in bytes, when known.
    pub size: Option<u64>,
    /// ETag without quotes.
    pub etag: Option<String>,
    /// S3 version id.
    pub version_id: Option<String>,
    /// S3 event sequencer.
    pub sequencer: Option<String>,
    /// When the object landed.
    pub landed_at: DateTime<Utc>,
    /// Why it is not applied.
    pub reason: String,
}

/// What a table's backlog amounts to (the batch-manager balances batches by it; `tributary
/// status` shows it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BacklogSummary {
    /// Pending files (landed, or quarantined and blocking).
    pub files: u64,
    /// Their bytes, counting files of unknown size as 0.
    pub bytes: u64,
    /// How many of the pending files are quarantined.
    pub quarantined: u64,
    /// When the oldest pending file landed.
    pub oldest_landed_at: Option<DateTime<Utc>>,
}

/// The port that sizes a table's backlog without reading whole items.
pub trait BacklogOverview: Send + Sync {
    /// The table's backlog summary, read with a Query of the pending index (never a Scan); a
    /// table with nothing pending costs one small request.
    fn backlog_summary(
        &self,
        table_id: &str,
    ) -> impl Future<Output = Result<BacklogSummary, StoreError>> + Send;
}

#[cfg(test)]
#[path = "file_tracker_test.rs"]
mod tests;
