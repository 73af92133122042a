//! Snapshot retention of an Iceberg table (COMMON15 §10): snapshots older than the time-travel
//! window are expired when publishing, always keeping the newest few and the current one; and
//! the files the retained snapshots still reference, which the garbage collector must keep.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use iceberg::spec::{Snapshot, TableMetadata};
use object_store::path::Path;

use super::IcebergError;
use super::metadata_io::MetadataStore;
use crate::lake::table_config::DEFAULT_TIME_TRAVEL_DAYS;

/// Default time-travel window: the table option's default (`time_travel_days`).
pub const DEFAULT_MAX_SNAPSHOT_AGE: Duration =
    Duration::from_secs(DEFAULT_TIME_TRAVEL_DAYS as u64 * 24 * 3600);
/// Default number of newest snapshots kept whatever their age.
pub const DEFAULT_MIN_SNAPSHOTS: usize = 5;
/// Iceberg's table property for the window, so other engines' expiry agrees.
const PROPERTY_MAX_SNAPSHOT_AGE_MS: &str = "history.expire.max-snapshot-age-ms";
/// Iceberg's table property for the snapshots always kept.
const PROPERTY_MIN_SNAPSHOTS: &str = "history.expire.min-snapshots-to-keep";

/// Which snapshots a table keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Snapshots younger than this are kept (the time-travel window).
    pub max_snapshot_age: Duration,
    /// The newest this many snapshots are kept whatever their age.
    pub min_snapshots: usize,
}

impl Default for RetentionPolicy {
    fn default() -> RetentionPolicy {
        RetentionPolicy {
            max_snapshot_age: DEFAULT_MAX_SNAPSHOT_AGE,
            min_snapshots: DEFAULT_MIN_SNAPSHOTS,
        }
    }
}

impl RetentionPolicy {
    /// Snapshots kept for `time_travel` (a table's `time_travel_days`), and always the newest
    /// [`DEFAULT_MIN_SNAPSHOTS`].
    pub fn with_window(time_travel: Duration) -> RetentionPolicy {
        RetentionPolicy {
            max_snapshot_age: time_travel,
            min_snapshots: DEFAULT_MIN_SNAPSHOTS,
        }
    }

    /// The policy as Iceberg's standard table properties.
    pub fn table_properties(&self) -> [(String, String); 2] {
        [
            (
                PROPERTY_MAX_SNAPSHOT_AGE_MS.to_owned(),
                self.max_snapshot_age.as_millis().to_string(),
            ),
            (
                PROPERTY_MIN_SNAPSHOTS.to_owned(),
                self.min_snapshots.to_string(),
            ),
        ]
    }

    /// The ids of the snapshots to expire at `now_ms`: those older than the window, except the
    /// newest [`RetentionPolicy::min_snapshots`] (by sequence number) and `current`.
    pub fn expired<'a>(
        &self,
        snapshots: impl IntoIterator<Item = &'a Snapshot>,
        current: Option<i64>,
        now_ms: i64,
    ) -> Vec<i64> {
        let window_ms = i64::try_from(self.max_snapshot_age.as_millis()).unwrap_or(i64::MAX);
        let oldest_kept_ms = now_ms.saturating_sub(window_ms);
        let mut newest_first: Vec<&Snapshot> = snapshots.into_iter().collect();
        newest_first.sort_by_key(|s| std::cmp::Reverse(s.sequence_number()));
        newest_first
            .into_iter()
            .skip(self.min_snapshots)
            .filter(|s| Some(s.snapshot_id()) != current && s.timestamp_ms() < oldest_kept_ms)
            .map(Snapshot::snapshot_id)
            .collect()
    }
}

/// Every object the table's retained state references: the metadata file at `metadata_location`
/// and those of its metadata log, and of every snapshot its manifest list, manifests and live
/// data files. The garbage collector must not delete any of them.
pub async fn referenced_files(
    io: &MetadataStore,
    metadata: &TableMetadata,
    metadata_location: &str,
) -> Result<BTreeSet<Path>, IcebergError> {
    let mut urls: BTreeSet<String> = metadata
        .metadata_log()
        .iter()
        .map(|log| log.metadata_file.clone())
        .collect();
    urls.insert(metadata_location.to_owned());
    let mut manifests_seen: HashSet<String> = HashSet::new();
    for snapshot in metadata.snapshots() {
        urls.insert(snapshot.manifest_list().to_owned());
        let list = io
            .read_manifest_list(snapshot, metadata.format_version())
            .await?;
        for manifest_file in list.entries() {
            if !manifests_seen.insert(manifest_file.manifest_path.clone()) {
                continue;
            }
            urls.insert(manifest_file.manifest_path.clone());
            let manifest = io.read_manifest(manifest_file).await?;
            urls.extend(
                manifest
                    .entries()
                    .iter()
                    .filter(|entry| entry.is_alive())
                    .map(|entry| entry.file_path().to_owned()),
            );
        }
    }
    urls.iter().map(|url| io.path(url)).collect()
}

#[cfg(test)]
#[path = "retention_test.rs"]
mod tests;
