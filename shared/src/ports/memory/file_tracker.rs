//! An in-memory file tracker: tables' backlogs in table order, every write fenced by the lease
//! as the DynamoDB one fences it (through the processing tracker the files are
//! [`MemoryFileTracker::fenced_by`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};

use super::processing_tracker::MemoryProcessingTracker;
use crate::domain::dms_layout::{FileFormat, FileKind};
use crate::ports::file_tracker::{
    BacklogFile, BacklogLimit, BacklogOverview, BacklogSummary, FileAttempt, FileBacklog,
    FileFailure, FileStatus, KeyVersion, SupersededFile,
};
use crate::ports::processing_tracker::Lease;
use crate::ports::state_store::StoreError;

/// A tracked file and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedItem {
    /// The file as the backlog shows it (status, failures, attempt, …).
    pub file: BacklogFile,
    /// Whether it is in its table's backlog.
    pub pending: bool,
    /// The refresh that applied it.
    pub refresh_id: Option<String>,
    /// Why it was superseded.
    pub superseded_by: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    /// Items by (table id, tracker id): in table order within a table.
    items: BTreeMap<(String, String), TrackedItem>,
    summary_reads: Vec<String>,
    unreachable: bool,
}

/// The in-memory file tracker; clones share the state.
#[derive(Debug, Clone, Default)]
pub struct MemoryFileTracker {
    state: Arc<Mutex<State>>,
    leases: MemoryProcessingTracker,
}

/// A landed CDC file in CSV of `size` bytes whose place in the table order is `order_key`,
/// recorded at its current object version.
pub fn landed_file(order_key: &str, key: &str, size: u64, landed_at: DateTime<Utc>) -> BacklogFile {
    BacklogFile {
        id: format!("{order_key}#v1"),
        bucket: "staging".to_owned(),
        key: key.to_owned(),
        size: Some(size),
        kind: FileKind::Cdc,
        format: FileFormat::Csv,
        order_key: order_key.to_owned(),
        landed_at,
        status: FileStatus::Landed,
        failures: 0,
        last_error: None,
        last_fingerprint: None,
        etag: None,
        version_id: None,
        sequencer: None,
        attempt: None,
    }
}

impl MemoryFileTracker {
    /// A file tracker whose writes hold only while `tracker` holds the lease.
    pub fn fenced_by(tracker: &MemoryProcessingTracker) -> Self {
        MemoryFileTracker {
            state: Arc::default(),
            leases: tracker.clone(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records `file` in `table_id`'s backlog as it is (landed, or failed before).
    pub fn land(&self, table_id: &str, file: BacklogFile) {
        let item = TrackedItem {
            file,
            pending: true,
            refresh_id: None,
            superseded_by: None,
        };
        let key = (table_id.to_owned(), item.file.id.clone());
        self.lock().items.insert(key, item);
    }

    /// The item of `file_id` of `table_id`.
    pub fn item(&self, table_id: &str, file_id: &str) -> Option<TrackedItem> {
        let key = (table_id.to_owned(), file_id.to_owned());
        self.lock().items.get(&key).cloned()
    }

    /// Forgets every file.
    pub fn clear(&self) {
        self.lock().items.clear();
    }

    /// Makes every read fail as if the store could not be reached.
    pub fn set_unreachable(&self) {
        self.lock().unreachable = true;
    }

    /// The tables whose backlog summaries were read, in order.
    pub fn summary_reads(&self) -> Vec<String> {
        self.lock().summary_reads.clone()
    }

    /// Applies `change` to each of `file_ids` of the lease's table, once the lease is confirmed.
    fn update(
        &self,
        lease: &Lease,
        file_ids: &[String],
        change: impl Fn(&mut TrackedItem),
    ) -> Result<(), StoreError> {
        self.leases.check(lease)?;
        let mut state = self.lock();
        for file_id in file_ids {
            let key = (lease.table_id.clone(), file_id.clone());
            if let Some(item) = state.items.get_mut(&key) {
                change(item);
            }
        }
        Ok(())
    }

    /// The pending items of `table_id`, in table order.
    fn pending_items(&self, table_id: &str) -> Result<Vec<TrackedItem>, StoreError> {
        let state = self.lock();
        if state.unreachable {
            return Err(StoreError::Unreachable {
                store: "the file tracker",
                detail: "connection reset".to_owned(),
            });
        }
        Ok(state
            .items
            .iter()
            .filter(|((table, _), item)| table == table_id && item.pending)
            .map(|(_, item)| item.clone())
            .collect())
    }
}

/// Clears what a failure counted and the attempt: the file's outcome is recorded.
fn finish(item: &mut TrackedItem, status: FileStatus) {
    item.file.status = status;
    item.file.failures = 0;
    item.file.attempt = None;
    item.pending = false;
}

impl FileBacklog for MemoryFileTracker {
    async fn pending(
        &self,
        table_id: &str,
        limit: BacklogLimit,
    ) -> Result<Vec<BacklogFile>, StoreError> {
        let mut files = Vec::new();
        let mut bytes = 0_u64;
        for item in self.pending_items(table_id)? {
            if !limit.admits(files.len(), bytes, &item.file) {
                break;
            }
            bytes = bytes.saturating_add(item.file.size.unwrap_or(0));
            files.push(item.file);
        }
        Ok(files)
    }

    async fn mark_processed(
        &self,
        lease: &Lease,
        file_ids: &[String],
        refresh_id: &str,
        _processed_at: DateTime<Utc>,
        _expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update(lease, file_ids, |item| {
            finish(item, FileStatus::Processed);
            item.file.last_error = None;
            item.file.last_fingerprint = None;
            item.refresh_id = Some(refresh_id.to_owned());
        })
    }

    async fn record_failure(
        &self,
        lease: &Lease,
        failure: &FileFailure,
        _at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update(lease, std::slice::from_ref(&failure.file_id), |item| {
            item.file.failures = failure.failures;
            item.file.last_error = Some(failure.error.clone());
            if let Some(fingerprint) = &failure.fingerprint {
                item.file.last_fingerprint = Some(fingerprint.clone());
            }
            item.file.status = failure.status;
            item.file.attempt = None;
            item.pending = item.pending && failure.keep_pending;
        })
    }

    async fn start_attempt(
        &self,
        lease: &Lease,
        file_ids: &[String],
        refresh_id: &str,
        _at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let attempt = FileAttempt {
            refresh_id: refresh_id.to_owned(),
            token: lease.token,
            files: u32::try_from(file_ids.len()).unwrap_or(u32::MAX),
        };
        self.update(lease, file_ids, |item| {
            item.file.attempt = Some(attempt.clone())
        })
    }

    async fn end_attempt(&self, lease: &Lease, file_ids: &[String]) -> Result<(), StoreError> {
        self.update(lease, file_ids, |item| item.file.attempt = None)
    }

    async fn mark_superseded(
        &self,
        lease: &Lease,
        file: &SupersededFile,
        _at: DateTime<Utc>,
        _expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update(lease, std::slice::from_ref(&file.file_id), |item| {
            finish(item, FileStatus::Superseded);
            item.superseded_by = Some(file.reason.clone());
        })
    }

    async fn key_versions(
        &self,
        table_id: &str,
        order_keys: &[&str],
    ) -> Result<Vec<KeyVersion>, StoreError> {
        let (Some(least), Some(greatest)) = (order_keys.iter().min(), order_keys.iter().max())
        else {
            return Ok(Vec::new());
        };
        Ok(self
            .lock()
            .items
            .iter()
            .filter(|((table, _), item)| {
                let order_key = item.file.order_key.as_str();
                table == table_id && (*least..=*greatest).contains(&order_key)
            })
            .map(|(_, item)| item.file.as_version())
            .collect())
    }
}

impl BacklogOverview for MemoryFileTracker {
    async fn backlog_summary(&self, table_id: &str) -> Result<BacklogSummary, StoreError> {
        let pending = self.pending_items(table_id)?;
        self.lock().summary_reads.push(table_id.to_owned());
        let mut summary = BacklogSummary::default();
        for item in pending {
            summary.files += 1;
            summary.bytes += item.file.size.unwrap_or(0);
            if item.file.status == FileStatus::Quarantined {
                summary.quarantined += 1;
            }
            let landed_at = item.file.landed_at;
            summary.oldest_landed_at = Some(
                summary
                    .oldest_landed_at
                    .map_or(landed_at, |oldest| oldest.min(landed_at)),
            );
        }
        Ok(summary)
    }
}
