//! The benchmark's table on local disk: a staging store and a lake store under one directory, DMS
//! files staged by name, refreshes timed, and the process's peak memory.

use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tributary_shared::domain::dms_layout::StagingLayout;
use tributary_shared::domain::object_key::ObjectKey;
use tributary_shared::lake::dms_reader::RecordedVersion;
use tributary_shared::lake::refresh::{
    LakeStores, PendingFile, RefreshOutcome, RefreshRequest, refresh,
};
use tributary_shared::lake::table_config::TableConfig;

/// The staging bucket name the layout classifies against.
const BUCKET: &str = "staging";
/// The DMS bucket folder.
const DMS_FOLDER: &str = "dms";

/// One table: its configuration, both stores and the staging layout.
pub struct BenchLake {
    /// The table.
    pub config: TableConfig,
    stores: LakeStores,
    layout: StagingLayout,
}

impl BenchLake {
    /// Creates `root/staging` and `root/lake` and a table with this JSON configuration.
    pub fn create(root: &FsPath, config_json: &str) -> Result<BenchLake> {
        Ok(BenchLake {
            config: TableConfig::from_json(config_json).context("the benchmark table config")?,
            stores: LakeStores {
                staging: local_store(&root.join("staging"))?,
                lake: local_store(&root.join("lake"))?,
            },
            layout: StagingLayout::new(BUCKET, DMS_FOLDER, None)
                .context("the benchmark staging layout")?,
        })
    }

    /// Writes a DMS file named `name` under `dms/<schema>/<table>/` and returns it as pending.
    pub async fn stage(&self, name: &str, contents: String) -> Result<PendingFile> {
        let key = format!(
            "{DMS_FOLDER}/{}/{}/{name}",
            self.config.source.schema, self.config.source.table
        );
        let file = self
            .layout
            .classify(BUCKET, &ObjectKey::new(key.clone())?)
            .with_context(|| format!("classifying {key}"))?;
        let path = Path::parse(&key).with_context(|| format!("object path {key}"))?;
        self.stores
            .staging
            .put(&path, PutPayload::from(contents.into_bytes()))
            .await
            .with_context(|| format!("staging {key}"))?;
        Ok(PendingFile {
            id: format!("{}#v1", file.order_key),
            path,
            kind: file.kind,
            format: file.format,
            order_key: file.order_key.to_string(),
            version: RecordedVersion::Current,
        })
    }

    /// Applies `pending` in one refresh and returns its outcome and wall time.
    pub async fn refresh(
        &self,
        pending: &[PendingFile],
        refresh_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(RefreshOutcome, Duration)> {
        let request = RefreshRequest {
            config: &self.config,
            pending,
            refresh_id,
            now,
            commit_guard: None,
            max_input_bytes: u64::MAX,
        };
        let started = Instant::now();
        let outcome = refresh(&self.stores, request)
            .await
            .with_context(|| format!("refresh {refresh_id}"))?;
        Ok((outcome, started.elapsed()))
    }
}

/// An object store over the directory `dir`, created if missing.
fn local_store(dir: &FsPath) -> Result<Arc<dyn ObjectStore>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let store = LocalFileSystem::new_with_prefix(dir)
        .with_context(|| format!("opening {} as an object store", dir.display()))?;
    Ok(Arc::new(store))
}

/// The process's peak resident set size in MiB (`VmHWM` in `/proc/self/status`), if the system
/// reports it.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}
