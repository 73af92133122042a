//! The committed state of one lake table: a numbered, immutable snapshot document.
//!
//! A refresh writes new partition versions first, then commits by creating snapshot `N+1` with a
//! create-only put (`PutMode::Create`, S3 `If-None-Match: *`). That put is the commit point: the
//! snapshot names every live partition location, the table schema, the delete tombstones and
//! the DMS files whose changes it contains, so "data written" and "files applied" are one fact.
//! Anything written by a refresh that never committed is unreferenced garbage. See
//! docs/DESIGN.md §7.

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::lake::key_ranges::KeyRange;
use crate::lake::partitioning::PartitionValues;
use crate::lake::paths::{self, TableRoot};
use crate::lake::table_config::TableFormat;

/// Version of the snapshot document format.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// A table's committed state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableSnapshot {
    /// Document format version ([`SNAPSHOT_FORMAT`]).
    pub format: u32,
    /// `schema.table` of the source.
    pub table_id: String,
    /// Snapshot number; 0 is the empty table that was never committed.
    pub version: u64,
    /// The format the table is written in (`target.format` when committed). Snapshots written
    /// before formats existed are Hive tables.
    #[serde(default = "format_before_formats")]
    pub table_format: TableFormat,
    /// The refresh that committed it.
    pub refresh_id: Option<String>,
    /// When it was committed.
    pub committed_at: Option<DateTime<Utc>>,
    /// Source columns of the table (without Tributary's columns), in order, with Hive types.
    pub columns: Vec<SnapshotColumn>,
    /// Live partitions, ordered by path.
    pub partitions: Vec<PartitionState>,
    /// Files of remembered deletes (current mode).
    pub tombstones: Vec<TombstoneFile>,
    /// DMS files whose changes this snapshot contains, kept for the tombstone retention.
    pub applied_files: Vec<AppliedFile>,
}

/// The format of a snapshot that records none: Tributary wrote only Hive tables before formats
/// existed. (Not [`crate::lake::table_config::DEFAULT_TABLE_FORMAT`]: that default may change,
/// the past does not.)
fn format_before_formats() -> TableFormat {
    TableFormat::Hive
}

/// One column of the table schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotColumn {
    /// Column name.
    pub name: String,
    /// Hive type, e.g. `bigint` or `decimal(12,2)`.
    pub hive_type: String,
}

/// One live partition and the version of it readers should see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionState {
    /// Partition key values (empty for an unpartitioned table).
    pub values: PartitionValues,
    /// Folder of the current version, relative to the table root, e.g.
    /// `data/year=2024/v0000000007-r42`.
    pub location: String,
    /// Its Parquet files.
    pub files: Vec<DataFile>,
}

impl PartitionState {
    /// Rows in the partition.
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }

    /// The folder holding `file` (one of this partition's), relative to the table root.
    pub fn folder_of<'p>(&'p self, file: &'p DataFile) -> &'p str {
        file.folder.as_deref().unwrap_or(&self.location)
    }

    /// Every folder holding one of the partition's files.
    pub fn folders(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.location.as_str()).chain(self.files.iter().map(|f| self.folder_of(f)))
    }
}

/// One Parquet file of a partition version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataFile {
    /// File name inside the partition folder.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Row count.
    pub rows: u64,
    /// Per key column min/max, when known.
    pub key_ranges: Option<Vec<KeyRange>>,
    /// The folder holding the file (relative to the table root) when it is not its partition's
    /// current folder: a file of an Iceberg table carried over unchanged, by reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
}

/// A file of remembered deletes: key columns and the `cdc_order` of the delete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TombstoneFile {
    /// File name inside [`paths::TOMBSTONE_DIR`].
    pub name: String,
    /// When the deletes were applied; the file expires after the tombstone retention.
    pub created_at: DateTime<Utc>,
    /// Row count.
    pub rows: u64,
    /// Size in bytes.
    pub size: u64,
    /// Per key column min/max, when known.
    pub key_ranges: Option<Vec<KeyRange>>,
}

/// A DMS file whose changes are in the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedFile {
    /// The file tracker id (`<order key>#<object version>`).
    pub id: String,
    /// The refresh that applied it.
    pub refresh_id: String,
    /// When.
    pub applied_at: DateTime<Utc>,
}

/// Reading or committing a snapshot failed.
#[derive(Debug, Error)]
pub enum SnapshotError {
    /// The store could not be read or written; retryable.
    #[error("lake store error at {path}: {source}")]
    Storage {
        /// The object or prefix.
        path: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// Another refresh committed this version first: this refresh must not publish anything.
    #[error(
        "snapshot {version} of {table_id} was committed by another refresh; this refresh's output is discarded (is a second processor running without a lease?)"
    )]
    Conflict {
        /// The table.
        table_id: String,
        /// The contested version.
        version: u64,
    },
    /// A snapshot document cannot be read.
    #[error(
        "snapshot {path} is unreadable: {detail}; fix: restore it from the lake bucket's object versions"
    )]
    Corrupt {
        /// The document.
        path: String,
        /// The parse error.
        detail: String,
    },
}

impl TableSnapshot {
    /// The state of a table that has never been committed (its format is irrelevant: the first
    /// commit records the configured one).
    pub fn empty(table_id: &str) -> TableSnapshot {
        TableSnapshot {
            format: SNAPSHOT_FORMAT,
            table_id: table_id.to_owned(),
            version: 0,
            table_format: format_before_formats(),
            refresh_id: None,
            committed_at: None,
            columns: Vec::new(),
            partitions: Vec::new(),
            tombstones: Vec::new(),
            applied_files: Vec::new(),
        }
    }

    /// Whether the snapshot contains the changes of the DMS file with this tracker id.
    pub fn has_applied(&self, file_id: &str) -> bool {
        self.applied_files.iter().any(|f| f.id == file_id)
    }

    /// Total rows in the table.
    pub fn rows(&self) -> u64 {
        self.partitions.iter().map(PartitionState::rows).sum()
    }
}

/// Loads the newest snapshot of the table at `root`, or the empty snapshot.
pub async fn load_latest(
    store: &dyn ObjectStore,
    root: &Path,
    table_id: &str,
) -> Result<TableSnapshot, SnapshotError> {
    let root = TableRoot::new(root);
    let prefix = root.snapshot_dir();
    let storage = |source| SnapshotError::Storage {
        path: prefix.to_string(),
        source,
    };
    let listed: Vec<_> = store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(storage)?;
    let latest = listed
        .iter()
        .filter_map(|meta| paths::snapshot_version(&meta.location))
        .max();
    let Some(version) = latest else {
        return Ok(TableSnapshot::empty(table_id));
    };
    let path = root.snapshot(version);
    let storage = |source| SnapshotError::Storage {
        path: path.to_string(),
        source,
    };
    let bytes = store
        .get(&path)
        .await
        .map_err(storage)?
        .bytes()
        .await
        .map_err(storage)?;
    let snapshot: TableSnapshot =
        serde_json::from_slice(&bytes).map_err(|e| SnapshotError::Corrupt {
            path: path.to_string(),
            detail: e.to_string(),
        })?;
    if snapshot.version != version || snapshot.format != SNAPSHOT_FORMAT {
        return Err(SnapshotError::Corrupt {
            path: path.to_string(),
            detail: format!(
                "holds version {} format {}",
                snapshot.version, snapshot.format
            ),
        });
    }
    Ok(snapshot)
}

/// Commits `snapshot` (its `version` must be the previous one + 1). Fails with
/// [`SnapshotError::Conflict`] when that version already exists.
pub async fn commit(
    store: &dyn ObjectStore,
    root: &Path,
    snapshot: &TableSnapshot,
) -> Result<Path, SnapshotError> {
    let path = TableRoot::new(root).snapshot(snapshot.version);
    let body = serde_json::to_vec_pretty(snapshot).map_err(|e| SnapshotError::Corrupt {
        path: path.to_string(),
        detail: e.to_string(),
    })?;
    let options = PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    };
    match store.put_opts(&path, PutPayload::from(body), options).await {
        Ok(_) => Ok(path),
        Err(
            object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. },
        ) => Err(SnapshotError::Conflict {
            table_id: snapshot.table_id.clone(),
            version: snapshot.version,
        }),
        Err(source) => Err(SnapshotError::Storage {
            path: path.to_string(),
            source,
        }),
    }
}
