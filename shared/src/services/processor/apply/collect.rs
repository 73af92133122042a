//! Step 9 of a refresh: garbage collection of lake objects that neither the newest snapshot nor
//! the catalog references — for an Iceberg table, nothing its retained Iceberg snapshots need,
//! as the publish step read them — after the grace period ([`crate::lake::garbage`]). It runs
//! only after a complete publish, so the catalog never points at a deleted object.

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::super::Processor;
use crate::lake::garbage::{GarbagePolicy, collect_garbage};
use crate::lake::snapshot::TableSnapshot;
use crate::lake::table_config::TableConfig;
use crate::ports::catalog::Catalog;
use crate::ports::file_tracker::FileBacklog;
use crate::ports::processing_tracker::ProcessingTracker;
use crate::ports::table_registry::TableRegistry;
use crate::services::publisher::PublishReport;

impl<R: TableRegistry, T: ProcessingTracker, B: FileBacklog, C: Catalog> Processor<R, T, B, C> {
    /// Deletes what `snapshot` and the published catalog no longer reference; a failure is
    /// retried by the next refresh.
    pub(super) async fn collect(
        &self,
        config: &TableConfig,
        snapshot: &TableSnapshot,
        published: &PublishReport,
        now: DateTime<Utc>,
    ) {
        let policy = GarbagePolicy {
            catalog_locations: &published.catalog_locations,
            iceberg_references: published.iceberg_references.as_ref(),
            now,
            grace: self.settings.gc_grace,
        };
        let table_id = config.table_id();
        match collect_garbage(&*self.stores.lake, &config.location, snapshot, policy).await {
            Ok(gc) if gc.objects_deleted > 0 => {
                info!(
                    table_id,
                    folders = gc.folders_deleted,
                    objects = gc.objects_deleted,
                    bytes = gc.bytes_deleted,
                    snapshots = gc.snapshots_deleted,
                    "garbage-collected unreferenced lake objects"
                );
            }
            Ok(_) => {}
            Err(e) => {
                warn!(table_id, error = %e, "garbage collection failed; it is retried next refresh")
            }
        }
    }
}
