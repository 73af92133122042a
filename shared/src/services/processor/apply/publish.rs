//! Step 7 of a refresh: the catalog is brought to the table's newest snapshot
//! ([`crate::services::publisher`]): Glue partitions for a Hive table, a new Iceberg snapshot for
//! an Iceberg table (docs/DESIGN.md §15).

use std::sync::Arc;

use super::super::Processor;
use super::super::failure::Attempt;
use super::merge::Merged;
use crate::lake::table_config::{TableConfig, TableFormat};
use crate::ports::catalog::Catalog;
use crate::ports::file_tracker::FileBacklog;
use crate::ports::processing_tracker::ProcessingTracker;
use crate::ports::table_registry::TableRegistry;
use crate::services::publisher::iceberg::{IcebergPublication, publish_iceberg};
use crate::services::publisher::{self, PublishReport};

impl<R: TableRegistry, T: ProcessingTracker, B: FileBacklog, C: Catalog> Processor<R, T, B, C> {
    /// Publishes the merged snapshot in its table's format; a table without one has nothing to
    /// publish.
    pub(super) async fn publish(
        &self,
        config: &TableConfig,
        merged: &Merged,
    ) -> Result<PublishReport, Attempt> {
        let Some(snapshot) = merged.published_snapshot() else {
            return Ok(PublishReport::default());
        };
        let lake_url = &self.settings.lake_url;
        let published = match snapshot.table_format {
            TableFormat::Hive => {
                publisher::publish(&self.catalog, config, snapshot, lake_url).await
            }
            TableFormat::Iceberg => {
                let totals = &merged.totals;
                let publication = IcebergPublication {
                    lake: Arc::clone(&self.stores.lake),
                    lake_url,
                    config,
                    snapshot,
                    rows: merged.outcome.commit.is_some().then_some([
                        totals.inserted,
                        totals.updated,
                        totals.deleted,
                    ]),
                    now: self.clock.now(),
                };
                publish_iceberg(&self.catalog, &publication).await
            }
        };
        published.map_err(Attempt::publish)
    }
}
