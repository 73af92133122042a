//! The refresh: applies a table's pending DMS files to its lake state and commits a new
//! snapshot. See docs/DESIGN.md §6–§9 for the total order, the storage modes and the commit
//! protocol this implements.
//!
//! A refresh runs in phases, each in its own module, handing the next a typed value:
//!
//! 1. `input.rs` reads the pending files within the memory budget (`ReadFiles`);
//! 2. `layout.rs` evolves the table's schema and derives the lake's (`Layout`), and `input.rs`
//!    assembles the changes into one batch carrying the total order;
//! 3. `plan/` decides what the changes do, one planner per storage mode (`current.rs`,
//!    `history.rs`, `scd2.rs`), looking stored keys up through `key_lookup.rs` (key ranges, then
//!    bloom filters) (`Plan`);
//! 4. `write.rs` writes the touched partitions' new versions and the tombstones (`Written`);
//! 5. `commit.rs` asks the commit guard and creates the next snapshot (`Committed`), recording
//!    the configured table format; a table whose configured format differs from its latest
//!    snapshot's is refused before phase 1 ([`MergeError::FormatChanged`]).
//!
//! Each phase returns what it read or wrote (`LookupIo`, `WriteIo`); [`refresh`] sums them into
//! [`RefreshIo`]. This module holds the API callers use and the orchestration; object names come
//! from [`crate::lake::paths`], arrow helpers shared by the phases from `batches.rs`.

mod batches;
mod commit;
mod error;
mod input;
mod key_lookup;
mod layout;
mod plan;
mod write;

/// Rows per batch when streaming stored files and writing output.
const BATCH_ROWS: usize = 8192;

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use object_store::ObjectStore;
use object_store::path::Path;
use serde::Serialize;

use self::commit::Commitment;
pub use self::error::MergeError;
use self::key_lookup::LookupIo;
use self::layout::Layout;
pub use self::write::COMPACTION_SMALL_FILES;
use self::write::WriteIo;
use crate::domain::dms_layout::{FileFormat, FileKind};
use crate::lake::dms_reader::RecordedVersion;
use crate::lake::partitioning::PartitionValues;
use crate::lake::paths::{self, Attempt, TableRoot};
use crate::lake::snapshot::{self, PartitionState, TableSnapshot, TombstoneFile};
use crate::lake::table_config::TableConfig;

/// One pending DMS file of the table, in the table's file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingFile {
    /// File tracker id (`<order key>#<object version>`), recorded in the snapshot once applied.
    pub id: String,
    /// Object path in the staging store.
    pub path: Path,
    /// Full load or CDC.
    pub kind: FileKind,
    /// Encoding.
    pub format: FileFormat,
    /// The file's order key (dms_layout), the second part of the total order.
    pub order_key: String,
    /// The object version recorded when the file landed; only that version is read.
    pub version: RecordedVersion,
}

/// Where DMS files are read from and where the lake lives.
#[derive(Clone)]
pub struct LakeStores {
    /// The staging bucket (DMS output).
    pub staging: Arc<dyn ObjectStore>,
    /// The lake bucket.
    pub lake: Arc<dyn ObjectStore>,
}

/// Asked right before the commit point. A refusal aborts the refresh: nothing is committed and
/// the new partition folders stay unreferenced.
pub trait CommitGuard: Send + Sync {
    /// Confirms that this refresh may still commit (for the processor: that it still holds the
    /// table's lease); the error says why not.
    fn confirm(&self) -> BoxFuture<'_, Result<(), String>>;
}

/// One refresh of one table.
#[derive(Clone, Copy)]
pub struct RefreshRequest<'a> {
    /// The table.
    pub config: &'a TableConfig,
    /// Pending files in file order (already applied ones are skipped).
    pub pending: &'a [PendingFile],
    /// Unique id of this attempt (`[A-Za-z0-9_-]`, ≤ [`paths::MAX_REFRESH_ID_LEN`]): names the new partition versions, so a
    /// retried refresh never mixes files with a crashed one.
    pub refresh_id: &'a str,
    /// The refresh's clock: tombstone and applied-file retention are measured against it.
    pub now: DateTime<Utc>,
    /// Checked right before the commit point, when set.
    pub commit_guard: Option<&'a dyn CommitGuard>,
    /// The refresh's memory budget: files are read in order while their decompressed size fits
    /// in what is left of it (what each decoded file holds in memory is subtracted); later files
    /// are left for the next refresh. A first file larger than the whole budget fails the
    /// refresh with [`ReadError::TooLarge`].
    pub max_input_bytes: u64,
}

/// What a refresh did to the table's rows. `changes_read` = effects + `ignored` + `superseded`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RefreshCounts {
    /// Change rows read from the applied files.
    pub changes_read: u64,
    /// Rows added: new keys (current), appended changes (history), new versions (scd2).
    pub inserted: u64,
    /// Existing rows replaced: existing keys (current), closed or re-linked versions (scd2).
    pub updated: u64,
    /// Existing keys removed (current).
    pub deleted: u64,
    /// Changes that changed nothing: not newer than the stored row or tombstone, duplicates, and
    /// deletes of keys the table does not hold.
    pub ignored: u64,
    /// Changes overtaken by a later change of the same key in the same refresh (current).
    pub superseded: u64,
}

/// How much a refresh read and wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RefreshIo {
    /// DMS files applied.
    pub dms_files_applied: u64,
    /// Stored files skipped by their key ranges in the snapshot.
    pub files_pruned_by_range: u64,
    /// Stored files whose footer was read and whose bloom filters excluded every changed key.
    pub files_pruned_by_bloom: u64,
    /// Stored files (or tombstone files) whose key columns were decoded to look up keys.
    pub files_scanned: u64,
    /// Stored files decoded and rewritten (they held changed keys, or were compacted).
    pub files_rewritten: u64,
    /// Stored files copied unchanged into a new partition version (Hive tables).
    pub files_copied: u64,
    /// Stored files kept unchanged where they are, by reference (Iceberg tables: never copied).
    pub files_referenced: u64,
    /// Parquet files written.
    pub files_written: u64,
    /// Bytes of Parquet written.
    pub bytes_written: u64,
    /// Partition versions written.
    pub partitions_written: u64,
}

/// The committed result of a refresh, for the caller to publish (Glue) and record (tracker).
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// The committed snapshot version.
    pub version: u64,
    /// The snapshot document.
    pub snapshot_path: Path,
    /// Partitions with a new version (publish these locations).
    pub partitions_written: Vec<PartitionState>,
    /// Partitions that became empty (drop them from the catalog).
    pub partitions_dropped: Vec<PartitionValues>,
    /// Partition folders no longer referenced (garbage after a grace period).
    pub replaced_locations: Vec<String>,
    /// Whether the table's columns changed.
    pub schema_changed: bool,
    /// Tracker ids of the files this commit applied.
    pub applied_files: Vec<String>,
}

/// Result of one refresh.
#[derive(Debug, Clone)]
pub struct RefreshOutcome {
    /// The table state after the refresh (the previous one when nothing was committed).
    pub snapshot: TableSnapshot,
    /// The commit, or `None` when every pending file was already applied.
    pub commit: Option<Commit>,
    /// What happened to the rows.
    pub counts: RefreshCounts,
    /// I/O figures.
    pub io: RefreshIo,
    /// Pending files that the snapshot already contained (a rerun after a crash).
    pub already_applied: Vec<String>,
    /// Pending files whose recorded object version no longer exists (overwritten or deleted):
    /// superseded, never applied.
    pub superseded: Vec<String>,
    /// Pending files left for the next refresh because the memory budget was spent.
    pub deferred: Vec<String>,
}

impl RefreshIo {
    /// The figures of a refresh that applied `dms_files`, from its phases' counts.
    fn of_phases(dms_files: usize, lookup: LookupIo, write: WriteIo) -> RefreshIo {
        RefreshIo {
            dms_files_applied: dms_files as u64,
            files_pruned_by_range: lookup.files_pruned_by_range,
            files_pruned_by_bloom: lookup.files_pruned_by_bloom,
            files_scanned: lookup.files_scanned,
            files_rewritten: write.files_rewritten,
            files_copied: write.files_copied,
            files_referenced: write.files_referenced,
            files_written: write.files_written,
            bytes_written: write.bytes_written,
            partitions_written: write.partitions_written,
        }
    }
}

/// What every phase of one refresh reads: the lake, the table, its layout, its previous
/// snapshot and the refresh's clock.
#[derive(Clone, Copy)]
struct RefreshContext<'a> {
    /// The lake store.
    lake: &'a Arc<dyn ObjectStore>,
    /// The table.
    config: &'a TableConfig,
    /// Its schemas after this refresh.
    layout: &'a Layout,
    /// The snapshot the refresh starts from.
    previous: &'a TableSnapshot,
    /// The refresh's clock.
    now: DateTime<Utc>,
}

impl<'a> RefreshContext<'a> {
    /// The table's root.
    fn root(&self) -> TableRoot<'a> {
        TableRoot::new(&self.config.location)
    }

    /// The oldest tombstone or applied file the refresh keeps.
    fn retention_start(&self) -> DateTime<Utc> {
        let retention = chrono::Duration::from_std(self.config.tombstone_retention)
            .unwrap_or(chrono::Duration::days(7));
        self.now - retention
    }

    /// The previous snapshot's tombstone files within the retention.
    fn live_tombstones(&self) -> impl Iterator<Item = &'a TombstoneFile> {
        let start = self.retention_start();
        self.previous
            .tombstones
            .iter()
            .filter(move |t| t.created_at >= start)
    }
}

/// Applies `request.pending` to the table and commits a new snapshot.
pub async fn refresh(
    stores: &LakeStores,
    request: RefreshRequest<'_>,
) -> Result<RefreshOutcome, MergeError> {
    let config = request.config;
    if !paths::is_valid_refresh_id(request.refresh_id) {
        return Err(MergeError::BadRefreshId(request.refresh_id.to_owned()));
    }
    let previous =
        snapshot::load_latest(&*stores.lake, &config.location, &config.table_id()).await?;
    require_stored_format(config, &previous)?;
    let (todo, already_applied) = not_yet_applied(&previous, request.pending);
    let read =
        input::read_within_budget(&*stores.staging, config, &todo, request.max_input_bytes).await?;
    if read.inputs.is_empty() {
        return Ok(RefreshOutcome {
            snapshot: previous,
            commit: None,
            counts: RefreshCounts::default(),
            io: RefreshIo::default(),
            already_applied,
            superseded: read.superseded,
            deferred: read.deferred,
        });
    }
    let layout = Layout::new(config, &previous, &read.inputs)?;
    let changes = input::change_batch(&layout, config, &read.inputs)?;
    let context = RefreshContext {
        lake: &stores.lake,
        config,
        layout: &layout,
        previous: &previous,
        now: request.now,
    };
    let planned = plan::plan(context, &changes).await?;
    let attempt = Attempt {
        version: previous.version + 1,
        refresh_id: request.refresh_id,
    };
    let written = write::write(context, &planned, attempt).await?;
    let io = RefreshIo::of_phases(read.inputs.len(), planned.lookup_io, written.io);
    let commitment = Commitment {
        written,
        attempt,
        applied: read.inputs.iter().map(|i| i.file.id.clone()).collect(),
        guard: request.commit_guard,
    };
    let committed = commit::commit(context, commitment).await?;
    Ok(RefreshOutcome {
        snapshot: committed.snapshot,
        commit: Some(committed.commit),
        counts: planned.counts,
        io,
        already_applied,
        superseded: read.superseded,
        deferred: read.deferred,
    })
}

/// A table stays in the format its snapshots are written in: a configuration naming another
/// format is refused before anything is read (a table that was never committed takes any).
fn require_stored_format(config: &TableConfig, previous: &TableSnapshot) -> Result<(), MergeError> {
    if previous.version == 0 || previous.table_format == config.format {
        return Ok(());
    }
    Err(MergeError::FormatChanged {
        table: config.table_id(),
        version: previous.version,
        stored: previous.table_format,
        configured: config.format,
    })
}

/// The pending files the snapshot does not contain yet, each once and in order, and the ids of
/// those it does.
fn not_yet_applied<'p>(
    previous: &TableSnapshot,
    pending: &'p [PendingFile],
) -> (Vec<&'p PendingFile>, Vec<String>) {
    let mut seen = HashSet::new();
    let mut todo = Vec::new();
    let mut already_applied = Vec::new();
    for file in pending {
        if previous.has_applied(&file.id) {
            already_applied.push(file.id.clone());
        } else if seen.insert(file.id.as_str()) {
            todo.push(file);
        }
    }
    (todo, already_applied)
}

#[cfg(test)]
#[path = "refresh_test.rs"]
mod tests;

#[cfg(test)]
#[path = "refresh_model_test.rs"]
mod model_tests;

#[cfg(test)]
#[path = "refresh_input_test.rs"]
mod input_tests;

#[cfg(test)]
#[path = "iceberg_write_test.rs"]
mod iceberg_write_tests;
