//! One table of the batch: its configuration → its lease → its chunks under the lease → the lease
//! released with the last outcome (docs/DESIGN.md §11). A table not run (busy, inactive, a bad
//! configuration) is recorded in its history all the same.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::warn;

use super::failure::NotRun;
use super::outcome::{not_run_summary, truncate};
use super::{Invocation, Processor, chrono_duration};
use crate::contract::TableSummary;
use crate::lake::table_config::TableConfig;
use crate::ports::catalog::Catalog;
use crate::ports::file_tracker::FileBacklog;
use crate::ports::processing_tracker::{ProcessingTracker, RefreshRecord, RefreshTotals};
use crate::ports::table_registry::TableRegistry;

impl<R: TableRegistry, T: ProcessingTracker, B: FileBacklog, C: Catalog> Processor<R, T, B, C> {
    /// Refreshes one table: lease, run, release.
    pub(super) async fn refresh_table(
        &self,
        table_id: &str,
        invocation: &Invocation,
        slowest_chunk: &mut Duration,
    ) -> TableSummary {
        let started = self.clock.now();
        let config = match self.load_config(table_id).await {
            Ok(config) => config,
            Err(not_run) => return self.not_run(table_id, invocation, started, not_run).await,
        };
        let lease = match self.take_lease(table_id, invocation, started).await {
            Ok(lease) => lease,
            Err(not_run) => return self.not_run(table_id, invocation, started, not_run).await,
        };
        let run = self.run(&config, &lease, invocation, slowest_chunk).await;
        if let Some(last) = &run.last {
            self.release(&lease, last).await;
        }
        run.summary
    }

    /// The table's validated configuration, or why the table is not run.
    async fn load_config(&self, table_id: &str) -> Result<TableConfig, NotRun> {
        let registered = self
            .registry
            .table(table_id)
            .await
            .map_err(NotRun::Registry)?
            .ok_or_else(|| NotRun::NotRegistered(table_id.to_owned()))?;
        if !registered.active {
            return Err(NotRun::Inactive(table_id.to_owned()));
        }
        let config = TableConfig::from_json(&registered.spec_json).map_err(|source| {
            NotRun::InvalidConfig {
                table_id: table_id.to_owned(),
                source,
            }
        })?;
        if config.table_id() != table_id {
            return Err(NotRun::OtherTable {
                table_id: table_id.to_owned(),
                described: config.table_id(),
            });
        }
        Ok(config)
    }

    /// The summary of a table not run, after its history item is written when it gets one.
    async fn not_run(
        &self,
        table_id: &str,
        invocation: &Invocation,
        started: DateTime<Utc>,
        not_run: NotRun,
    ) -> TableSummary {
        if not_run.recorded() {
            self.record_not_run(table_id, invocation, started, &not_run)
                .await;
        }
        not_run_summary(table_id, &not_run)
    }

    /// Writes the history item of a table not run (busy, inactive, bad configuration), without
    /// a lease.
    async fn record_not_run(
        &self,
        table_id: &str,
        invocation: &Invocation,
        started: DateTime<Utc>,
        not_run: &NotRun,
    ) {
        let now = self.clock.now();
        let outcome = not_run.outcome();
        let record = RefreshRecord {
            table_id: table_id.to_owned(),
            refresh_id: format!("{}-{}", started.format("%Y%m%dT%H%M%SZ"), outcome.as_str()),
            owner: invocation.request_id.clone(),
            started_at: started,
            finished_at: now,
            outcome,
            error: Some(truncate(&not_run.to_string())),
            files: Vec::new(),
            totals: RefreshTotals::default(),
            snapshot_version: None,
            expires_at: now + chrono_duration(self.settings.history_ttl),
        };
        if let Err(e) = self.tracker.record_refresh(None, &record).await {
            warn!(table_id, error = %e, "could not write the processing-history item");
        }
    }
}
