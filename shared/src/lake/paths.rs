//! How a table's objects are named under its root — the one definition of the lake layout — and
//! the longest object key it can give: S3 refuses keys over [`S3_MAX_KEY_BYTES`], so the table's
//! location (configuration) and each partition (refresh) are checked against it before anything
//! is written (docs/DESIGN.md §8, §10).
//!
//! ```text
//! <location>/data/<partition path>/v<version, 10 digits>-<refresh id>/part-<version>-NNNNN.parquet
//! <location>/_tributary/tombstones/v<version>-<refresh id>-NNNNN.parquet
//! <location>/_tributary/snapshots/<version, 20 digits>.json
//! ```
//!
//! A folder relative to the table root (what a snapshot records as a partition's `location`) is
//! a string; [`TableRoot`] turns it into an object path, and [`Attempt`] names what one refresh
//! attempt writes.

use object_store::path::{Path, PathPart};

use crate::lake::partitioning::{PartitionLimitError, PartitionValues, limit_prefix};

/// Folder (under the table root) of partition versions.
pub const DATA_DIR: &str = "data";
/// Folder (under the table root) of tombstone files.
pub const TOMBSTONE_DIR: &str = "_tributary/tombstones";
/// Folder (under the table root) of snapshot documents.
pub const SNAPSHOT_DIR: &str = "_tributary/snapshots";
/// Folder (under the table root) of an Iceberg table's metadata: metadata JSON, manifests and
/// manifest lists.
pub const ICEBERG_METADATA_DIR: &str = "metadata";
/// Folder (under [`DATA_DIR`]) an unpartitioned table's catalog entry points to while the table
/// holds no rows; nothing is ever written there.
const EMPTY_TABLE_DIR: &str = "_empty";
/// Extension of snapshot documents.
const SNAPSHOT_EXTENSION: &str = ".json";

/// S3's limit on an object key: 1,024 bytes of UTF-8.
pub const S3_MAX_KEY_BYTES: usize = 1024;
/// The longest refresh id the engine accepts.
pub const MAX_REFRESH_ID_LEN: usize = 64;
/// The largest version that keeps its 10-digit width (keys are measured with it).
const LARGEST_VERSION: u64 = 9_999_999_999;
/// The largest file index that keeps its 5-digit width.
const LARGEST_FILE_INDEX: usize = 99_999;

/// The root of one table in the lake store; every object path of the table is built from it.
#[derive(Debug, Clone, Copy)]
pub struct TableRoot<'a> {
    location: &'a Path,
}

impl<'a> TableRoot<'a> {
    /// The table rooted at `location` (its configured `target.location`).
    pub fn new(location: &'a Path) -> TableRoot<'a> {
        TableRoot { location }
    }

    /// The table's location.
    pub fn location(&self) -> &'a Path {
        self.location
    }

    /// `root/relative`. Segments are taken as they are (Hive-escaped partition values keep their
    /// `%XX`); a segment object_store rejects is percent-encoded instead.
    pub fn join(&self, relative: &str) -> Path {
        join(self.location, relative)
    }

    /// The folder of every partition version.
    pub fn data_dir(&self) -> Path {
        self.join(DATA_DIR)
    }

    /// The folder of tombstone files.
    pub fn tombstone_dir(&self) -> Path {
        self.join(TOMBSTONE_DIR)
    }

    /// The folder of snapshot documents.
    pub fn snapshot_dir(&self) -> Path {
        self.join(SNAPSHOT_DIR)
    }

    /// The folder of an Iceberg table's metadata files.
    pub fn iceberg_metadata_dir(&self) -> Path {
        self.join(ICEBERG_METADATA_DIR)
    }

    /// The document of snapshot `version`.
    pub fn snapshot(&self, version: u64) -> Path {
        join(
            &self.snapshot_dir(),
            &format!("{version:020}{SNAPSHOT_EXTENSION}"),
        )
    }

    /// The data file `name` of the partition version `folder` (relative to the root).
    pub fn data_file(&self, folder: &str, name: &str) -> Path {
        join(&self.join(folder), name)
    }

    /// The tombstone file `name`.
    pub fn tombstone_file(&self, name: &str) -> Path {
        join(&self.tombstone_dir(), name)
    }

    /// `path` relative to the root (the root is a prefix of every path listed under it).
    pub fn relative(&self, path: &Path) -> String {
        let path = path.as_ref();
        path.strip_prefix(self.location.as_ref())
            .map(|rest| rest.trim_start_matches('/'))
            .unwrap_or(path)
            .to_owned()
    }
}

/// `root/relative`, segment by segment (see [`TableRoot::join`]).
fn join(root: &Path, relative: &str) -> Path {
    relative
        .split('/')
        .filter(|s| !s.is_empty())
        .fold(root.clone(), |path, part| match PathPart::parse(part) {
            Ok(part) => path.join(part),
            Err(_) => path.join(part),
        })
}

/// The version a snapshot document's path names; `None` for any other object.
pub fn snapshot_version(path: &Path) -> Option<u64> {
    path.filename()?
        .strip_suffix(SNAPSHOT_EXTENSION)?
        .parse::<u64>()
        .ok()
}

/// The folder, relative to the table root, that an unpartitioned table without rows is
/// published at.
pub fn empty_table_folder() -> String {
    format!("{DATA_DIR}/{EMPTY_TABLE_DIR}")
}

/// The S3 URL of the folder `folder` in the lake bucket at `lake_url` (e.g. `s3://my-lake`), with
/// a trailing `/`.
pub fn folder_url(lake_url: &str, folder: &Path) -> String {
    format!("{}/{folder}/", lake_url.trim_end_matches('/'))
}

/// Whether `refresh_id` can name files: 1 to [`MAX_REFRESH_ID_LEN`] characters from
/// `[A-Za-z0-9_-]`.
pub fn is_valid_refresh_id(refresh_id: &str) -> bool {
    !refresh_id.is_empty()
        && refresh_id.len() <= MAX_REFRESH_ID_LEN
        && refresh_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What one refresh attempt names its objects after: the snapshot version it would commit and
/// its unique refresh id, so a retried refresh never mixes files with a crashed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt<'a> {
    /// The snapshot version the attempt commits.
    pub version: u64,
    /// The attempt's refresh id (see [`is_valid_refresh_id`]).
    pub refresh_id: &'a str,
}

impl Attempt<'_> {
    /// The folder of a partition version, relative to the table root (`partition_path` is empty
    /// for an unpartitioned table).
    pub fn partition_folder(&self, partition_path: &str) -> String {
        let Attempt {
            version,
            refresh_id,
        } = self;
        if partition_path.is_empty() {
            format!("{DATA_DIR}/v{version:010}-{refresh_id}")
        } else {
            format!("{DATA_DIR}/{partition_path}/v{version:010}-{refresh_id}")
        }
    }

    /// The name prefix of the data files the attempt writes.
    pub fn data_file_prefix(&self) -> String {
        format!("part-{:010}", self.version)
    }

    /// The name prefix of the tombstone files the attempt writes.
    pub fn tombstone_file_prefix(&self) -> String {
        format!("v{:010}-{}", self.version, self.refresh_id)
    }
}

/// The name of a folder's `index`-th file: `<prefix>-NNNNN.parquet`.
pub fn file_name(prefix: &str, index: usize) -> String {
    format!("{prefix}-{index:05}.parquet")
}

/// The longest object key, in bytes, that a table rooted at `location` can write for the partition
/// `partition_path` (empty: an unpartitioned table), including its tombstones and snapshots.
pub fn longest_key_bytes(location: &Path, partition_path: &str) -> usize {
    let refresh_id = "r".repeat(MAX_REFRESH_ID_LEN);
    let widest = Attempt {
        version: LARGEST_VERSION,
        refresh_id: &refresh_id,
    };
    let root = TableRoot::new(location);
    let data_folder = root.join(&widest.partition_folder(partition_path));
    let data_name = file_name(&widest.data_file_prefix(), LARGEST_FILE_INDEX);
    let tombstone_name = file_name(&widest.tombstone_file_prefix(), LARGEST_FILE_INDEX);
    let data = data_folder.as_ref().len() + 1 + data_name.len();
    let tombstone = root.tombstone_dir().as_ref().len() + 1 + tombstone_name.len();
    data.max(tombstone)
}

/// Refuses a partition whose values AWS Glue would refuse, or whose object keys S3 would.
pub fn check_partition(
    location: &Path,
    values: &PartitionValues,
) -> Result<(), PartitionLimitError> {
    values.check_glue_limit()?;
    let path = values.path();
    let key_bytes = longest_key_bytes(location, &path);
    if key_bytes > S3_MAX_KEY_BYTES {
        return Err(PartitionLimitError::ObjectKeyTooLong {
            path_prefix: limit_prefix(&path),
            key_bytes,
            limit: S3_MAX_KEY_BYTES,
        });
    }
    Ok(())
}

#[cfg(test)]
#[path = "paths_test.rs"]
mod tests;
