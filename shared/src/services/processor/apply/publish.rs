//! Step 7 of a refresh: the catalog is brought to the table's newest snapshot
//! ([`crate::services::publisher`]).

use super::super::Processor;
use super::super::failure::Attempt;
use super::merge::Merged;
use crate::lake::table_config::TableConfig;
use crate::ports::catalog::Catalog;
use crate::ports::file_tracker::FileBacklog;
use crate::ports::processing_tracker::ProcessingTracker;
use crate::ports::table_registry::TableRegistry;
use crate::services::publisher::{self, PublishReport};

impl<R: TableRegistry, T: ProcessingTracker, B: FileBacklog, C: Catalog> Processor<R, T, B, C> {
    /// Publishes the merged snapshot; a table without one has nothing to publish.
    pub(super) async fn publish(
        &self,
        config: &TableConfig,
        merged: &Merged,
    ) -> Result<PublishReport, Attempt> {
        let Some(snapshot) = merged.published_snapshot() else {
            return Ok(PublishReport::default());
        };
        publisher::publish(&self.catalog, config, snapshot, &self.settings.lake_url)
            .await
            .map_err(Attempt::publish)
    }
}
