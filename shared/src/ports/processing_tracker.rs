//! The processing tracker: per-table leases with fencing tokens, the table's last outcome, and
//! the history of refreshes.
//!
//! This module is the port; `adapters::dynamodb_processing_tracker` is the DynamoDB
//! implementation. Protocol (docs/DESIGN.md §11): a lease is taken with a conditional write that
//! succeeds only when no unexpired lease exists, and each acquisition increases the table's
//! fencing token. Every later write of the refresh is conditional on that token, so a processor
//! whose lease was taken over writes nothing more.

use std::collections::HashMap;
use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ports::state_store::StoreError;

/// A held lease on one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The table.
    pub table_id: String,
    /// Who holds it (the Lambda request id).
    pub owner: String,
    /// Fencing token: greater than every token handed out before for this table.
    pub token: u64,
    /// When the lease lapses unless renewed.
    pub expires_at: DateTime<Utc>,
}

/// The answer to a lease request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseGrant {
    /// The lease is ours.
    Acquired {
        /// The lease.
        lease: Lease,
        /// The previous holder, when its lease had expired and was taken over.
        took_over_from: Option<String>,
    },
    /// Another processor holds an unexpired lease.
    Busy {
        /// The holder.
        owner: String,
        /// When its lease lapses.
        expires_at: DateTime<Utc>,
    },
}

/// What one refresh (or an attempt at one) of a table came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshOutcomeKind {
    /// Files were applied and published.
    Completed,
    /// Nothing was pending.
    NoFiles,
    /// Another processor holds the table's lease.
    Busy,
    /// The refresh failed; the error says why. Pending files stay pending.
    Failed,
    /// Not started: the invocation's deadline was too close.
    Deferred,
    /// Not started: the table is inactive in the registry.
    Inactive,
}

impl RefreshOutcomeKind {
    /// Every outcome.
    pub const ALL: [RefreshOutcomeKind; 6] = [
        RefreshOutcomeKind::Completed,
        RefreshOutcomeKind::NoFiles,
        RefreshOutcomeKind::Busy,
        RefreshOutcomeKind::Failed,
        RefreshOutcomeKind::Deferred,
        RefreshOutcomeKind::Inactive,
    ];

    /// The stored and reported name.
    pub fn as_str(self) -> &'static str {
        match self {
            RefreshOutcomeKind::Completed => "completed",
            RefreshOutcomeKind::NoFiles => "no_files",
            RefreshOutcomeKind::Busy => "busy",
            RefreshOutcomeKind::Failed => "failed",
            RefreshOutcomeKind::Deferred => "deferred",
            RefreshOutcomeKind::Inactive => "inactive",
        }
    }

    /// The outcome whose stored name ([`RefreshOutcomeKind::as_str`]) is `name`.
    pub fn from_name(name: &str) -> Option<RefreshOutcomeKind> {
        RefreshOutcomeKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

/// Row and byte counts of a refresh.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RefreshTotals {
    /// DMS files applied.
    pub files: u64,
    /// Rows inserted (new keys, appended changes, new versions).
    pub inserted: u64,
    /// Rows updated.
    pub updated: u64,
    /// Rows deleted.
    pub deleted: u64,
    /// Changes ignored: not newer than the stored state, duplicates, deletes of absent keys.
    pub ignored: u64,
    /// Changes overtaken by a later change of the same key in the same refresh.
    pub superseded: u64,
    /// DMS files recorded `superseded` (another version of their key replaced them).
    pub files_superseded: u64,
    /// Bytes of DMS files read.
    pub bytes_read: u64,
    /// Bytes of lake files written.
    pub bytes_written: u64,
    /// Partitions rewritten (new versions) or dropped.
    pub partitions_rewritten: u64,
}

impl RefreshTotals {
    /// Adds `other` to these totals.
    pub fn add(&mut self, other: &RefreshTotals) {
        self.files += other.files;
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.deleted += other.deleted;
        self.ignored += other.ignored;
        self.superseded += other.superseded;
        self.files_superseded += other.files_superseded;
        self.bytes_read += other.bytes_read;
        self.bytes_written += other.bytes_written;
        self.partitions_rewritten += other.partitions_rewritten;
    }
}

/// One processing-history item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    /// The table.
    pub table_id: String,
    /// Unique id of the refresh attempt.
    pub refresh_id: String,
    /// The invocation that ran it.
    pub owner: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// How it ended.
    pub outcome: RefreshOutcomeKind,
    /// Why it failed (or why it was skipped).
    pub error: Option<String>,
    /// Tracker ids of the files applied (or attempted, when it failed).
    pub files: Vec<String>,
    /// Counts.
    pub totals: RefreshTotals,
    /// The lake snapshot the refresh committed or published.
    pub snapshot_version: Option<u64>,
    /// When the item expires (TTL).
    pub expires_at: DateTime<Utc>,
}

/// The port the processor keeps leases and history through.
pub trait ProcessingTracker: Send + Sync {
    /// Takes the table's lease for `owner` until `expires_at` when no unexpired lease exists at
    /// `now`; the token increases on every acquisition.
    fn acquire(
        &self,
        table_id: &str,
        owner: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<LeaseGrant, StoreError>> + Send;

    /// Proves the lease is still held (and extends it to `expires_at`); fails with
    /// [`StoreError::LeaseLost`] otherwise. Called right before the lake commit point.
    fn confirm(
        &self,
        lease: &Lease,
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Writes a history item. With a lease the write is fenced by it; `busy`, `inactive` and
    /// configuration failures are recorded without one.
    fn record_refresh(
        &self,
        lease: Option<&Lease>,
        record: &RefreshRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Releases the lease and stores the table's last outcome; fenced by the lease.
    fn release(
        &self,
        lease: &Lease,
        last: &RefreshRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The port the batch-manager reads tables' last outcomes through (to tell idle tables from
/// tables whose last refresh did not finish).
pub trait LastOutcomes: Send + Sync {
    /// The last released refresh outcome of each of `table_ids` that has one; tables never
    /// refreshed are absent. Reads in bulk (many tables per request).
    fn last_outcomes(
        &self,
        table_ids: &[String],
    ) -> impl Future<Output = Result<HashMap<String, RefreshOutcomeKind>, StoreError>> + Send;
}

#[cfg(test)]
#[path = "processing_tracker_test.rs"]
mod tests;
