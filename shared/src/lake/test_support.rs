//! Test fixture for the merge engine: a staging store and a lake store on the local file system,
//! DMS files staged by name, and the table read back as sorted text rows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tempfile::TempDir;

use crate::domain::dms_layout::StagingLayout;
use crate::domain::object_key::ObjectKey;
use crate::lake::dms_reader::RecordedVersion;
use crate::lake::lake_files::StoredFile;
use crate::lake::paths::TableRoot;
use crate::lake::refresh::{
    CommitGuard, LakeStores, MergeError, PendingFile, RefreshOutcome, RefreshRequest, refresh,
};
use crate::lake::snapshot::{self, TableSnapshot};
use crate::lake::table_config::{TableConfig, meta_columns};

/// The staging bucket name used by the fixture.
pub const BUCKET: &str = "staging";

/// A table under test.
pub struct Lake {
    dir: TempDir,
    /// The lake store's fault injection and read accounting.
    pub faults: Arc<FaultyStore>,
    /// Both stores.
    pub stores: LakeStores,
    /// The table.
    pub config: TableConfig,
    layout: StagingLayout,
    refreshes: u32,
    /// The clock passed to refreshes; advanced by one minute per refresh.
    pub now: DateTime<Utc>,
}

impl Lake {
    /// A fresh table with this JSON configuration.
    pub fn new(config_json: &str) -> Lake {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("staging")).unwrap();
        std::fs::create_dir_all(dir.path().join("lake")).unwrap();
        let staging: Arc<dyn ObjectStore> =
            Arc::new(LocalFileSystem::new_with_prefix(dir.path().join("staging")).unwrap());
        let faults = Arc::new(FaultyStore::new(Arc::new(
            LocalFileSystem::new_with_prefix(dir.path().join("lake")).unwrap(),
        )));
        let lake: Arc<dyn ObjectStore> = Arc::clone(&faults) as Arc<dyn ObjectStore>;
        Lake {
            dir,
            faults,
            stores: LakeStores { staging, lake },
            config: TableConfig::from_json(config_json).unwrap(),
            layout: StagingLayout::new(BUCKET, "dms", None).unwrap(),
            refreshes: 0,
            now: DateTime::parse_from_rfc3339("2024-06-01T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        }
    }

    /// Stages a DMS file named `name` (e.g. `LOAD00000001.csv`, `20240101-000000000.csv`) for the
    /// table and returns it as a pending file.
    pub async fn stage(&self, name: &str, contents: impl Into<Vec<u8>>) -> PendingFile {
        let key = format!(
            "dms/{}/{}/{name}",
            self.config.source.schema, self.config.source.table
        );
        let file = self
            .layout
            .classify(BUCKET, &ObjectKey::new(key.clone()).unwrap())
            .unwrap();
        let path = Path::parse(&key).unwrap();
        self.stores
            .staging
            .put(&path, PutPayload::from(contents.into()))
            .await
            .unwrap();
        PendingFile {
            id: format!("{}#v1", file.order_key),
            path,
            kind: file.kind,
            format: file.format,
            order_key: file.order_key.to_string(),
            version: RecordedVersion::Current,
        }
    }

    /// Runs one refresh of `files` with a fresh refresh id.
    pub async fn refresh(&mut self, files: &[PendingFile]) -> Result<RefreshOutcome, MergeError> {
        self.refresh_guarded(files, None).await
    }

    /// Runs one refresh of `files` with a fresh refresh id, asking `commit_guard` before the
    /// commit point.
    pub async fn refresh_guarded(
        &mut self,
        files: &[PendingFile],
        commit_guard: Option<&dyn CommitGuard>,
    ) -> Result<RefreshOutcome, MergeError> {
        self.refreshes += 1;
        self.now += Duration::minutes(1);
        let refresh_id = format!("r{}", self.refreshes);
        let request = RefreshRequest {
            config: &self.config,
            pending: files,
            refresh_id: &refresh_id,
            now: self.now,
            commit_guard,
            max_input_bytes: u64::MAX,
        };
        refresh(&self.stores, request).await
    }

    /// The latest snapshot.
    pub async fn snapshot(&self) -> TableSnapshot {
        snapshot::load_latest(
            &*self.stores.lake,
            &self.config.location,
            &self.config.table_id(),
        )
        .await
        .unwrap()
    }

    /// Every row of the table as `col=value` text joined by `,` (source columns in schema order,
    /// then the mode's columns except `cdc_order`), partition values restored, sorted.
    pub async fn rows(&self) -> Vec<String> {
        let snapshot = self.snapshot().await;
        let mut rows = Vec::new();
        for partition in &snapshot.partitions {
            for file in &partition.files {
                let path = TableRoot::new(&self.config.location)
                    .data_file(partition.folder_of(file), &file.name);
                for batch in self.read_file(path, file.size).await {
                    let missing: Vec<&str> = snapshot
                        .columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .filter(|name| {
                            batch.column_by_name(name).is_none()
                                && partition.values.get(name).is_none()
                        })
                        .collect();
                    rows.extend(render(&batch, &partition.values.0, &missing));
                }
            }
        }
        rows.sort();
        rows
    }

    /// Makes every object now in the lake store look written `by` ago (its modification time;
    /// the garbage collector's grace compares it with its clock).
    pub fn age_lake_objects(&self, by: std::time::Duration) {
        let written = std::time::SystemTime::now() - by;
        let mut folders = vec![self.dir.path().join("lake")];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                } else {
                    let file = std::fs::File::options().write(true).open(&path).unwrap();
                    file.set_modified(written).unwrap();
                }
            }
        }
    }

    /// Reads one stored file completely.
    pub async fn read_file(&self, path: Path, size: u64) -> Vec<RecordBatch> {
        let stored = StoredFile::open(Arc::clone(&self.stores.lake), path, size)
            .await
            .unwrap();
        let mut stream = stored.stream(None, None, 1024).unwrap();
        let mut batches = Vec::new();
        while let Some(batch) = stream.next().await {
            batches.push(batch.unwrap());
        }
        batches
    }
}

fn render(
    batch: &RecordBatch,
    partition: &[(String, Option<String>)],
    missing: &[&str],
) -> Vec<String> {
    let options = FormatOptions::default().with_null("null");
    let schema = batch.schema();
    let formatters: Vec<(String, ArrayFormatter<'_>)> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .filter(|(f, _)| f.name() != meta_columns::ORDER)
        .map(|(f, c)| {
            (
                f.name().clone(),
                ArrayFormatter::try_new(c.as_ref(), &options).unwrap(),
            )
        })
        .collect();
    (0..batch.num_rows())
        .map(|row| {
            let mut parts: Vec<String> = partition
                .iter()
                .filter(|(k, _)| !["year", "month", "day", "hour", "dt"].contains(&k.as_str()))
                .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("null")))
                .collect();
            parts.extend(
                formatters
                    .iter()
                    .map(|(name, f)| format!("{name}={}", f.value(row))),
            );
            parts.extend(missing.iter().map(|name| format!("{name}=null")));
            parts.sort();
            parts.join(",")
        })
        .collect()
}

/// Encodes a batch as a Parquet file (what DMS writes with `DataFormat: parquet`).
pub fn parquet_bytes(batch: &RecordBatch) -> Vec<u8> {
    let mut buffer = Vec::new();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(&mut buffer, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    buffer
}

/// Every object path under the lake store, sorted.
pub async fn lake_objects(lake: &Lake) -> Vec<String> {
    use futures::TryStreamExt;
    let mut paths: Vec<String> = lake
        .stores
        .lake
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    paths.sort();
    paths
}

/// A lake store wrapper that fails chosen puts and counts bytes read per object.
#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    fail_puts: std::sync::Mutex<Option<String>>,
    reads: std::sync::Mutex<Vec<(String, u64)>>,
}

impl std::fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

impl FaultyStore {
    fn new(inner: Arc<dyn ObjectStore>) -> FaultyStore {
        FaultyStore {
            inner,
            fail_puts: std::sync::Mutex::new(None),
            reads: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Makes every put to a path containing `fragment` fail with a store error.
    pub fn fail_puts_containing(&self, fragment: &str) {
        *self.fail_puts.lock().unwrap() = Some(fragment.to_owned());
    }

    /// Stops failing.
    pub fn clear(&self) {
        *self.fail_puts.lock().unwrap() = None;
    }

    /// Forgets the reads so far.
    pub fn reset_reads(&self) {
        self.reads.lock().unwrap().clear();
    }

    /// Bytes read from objects whose path contains `fragment` since the last reset.
    pub fn bytes_read_containing(&self, fragment: &str) -> u64 {
        self.reads
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p.contains(fragment))
            .map(|(_, n)| n)
            .sum()
    }

    fn check_put(&self, location: &Path) -> object_store::Result<()> {
        match self.fail_puts.lock().unwrap().as_deref() {
            Some(fragment) if location.as_ref().contains(fragment) => {
                Err(object_store::Error::Generic {
                    store: "FaultyStore",
                    source: format!("injected failure writing {location}").into(),
                })
            }
            _ => Ok(()),
        }
    }
}

#[async_trait::async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: object_store::PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        self.check_put(location)?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.check_put(location)?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        let result = self.inner.get_opts(location, options).await?;
        let size = result.range.end - result.range.start;
        self.reads
            .lock()
            .unwrap()
            .push((location.to_string(), size));
        Ok(result)
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> object_store::Result<Vec<bytes::Bytes>> {
        let size = ranges.iter().map(|r| r.end - r.start).sum();
        self.reads
            .lock()
            .unwrap()
            .push((location.to_string(), size));
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: futures::stream::BoxStream<'static, object_store::Result<Path>>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(
        &self,
        prefix: Option<&Path>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&Path>,
    ) -> object_store::Result<object_store::ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        self.check_put(to)?;
        self.inner.copy_opts(from, to, options).await
    }
}
