//! A table's chunks under its lease (docs/DESIGN.md §11): one after another until nothing is
//! pending, a chunk fails or moves nothing, or the deadline is near; each chunk is added to the
//! table's summary and written as a history item.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::warn;

use super::chunk::ChunkRun;
use super::failure::ChunkError;
use super::outcome::{Chunk, Done, Next, add_chunk, after_chunk, lost_table};
use super::{Invocation, Processor, chrono_duration};
use crate::contract::TableSummary;
use crate::lake::table_config::TableConfig;
use crate::ports::catalog::Catalog;
use crate::ports::file_tracker::FileBacklog;
use crate::ports::processing_tracker::{
    Lease, ProcessingTracker, RefreshOutcomeKind, RefreshRecord,
};
use crate::ports::table_registry::TableRegistry;

/// What a table's run under its lease came to.
pub(super) struct TableRun {
    /// The table's summary.
    pub summary: TableSummary,
    /// The last history item, to release the lease with; `None` when the lease was lost (a
    /// release would be refused).
    pub last: Option<RefreshRecord>,
}

/// The refresh id of a lease's chunk `number`: `<UTC time>-t<fencing token>-c<chunk>`, unique
/// because tokens never repeat.
fn refresh_id(started_at: DateTime<Utc>, token: u64, number: u32) -> String {
    format!("{}-t{token}-c{number}", started_at.format("%Y%m%dT%H%M%SZ"))
}

/// A chunk as its history item records it.
struct ChunkReport {
    refresh_id: String,
    started_at: DateTime<Utc>,
    done: Done,
    error: Option<ChunkError>,
    earlier_chunks: bool,
}

impl<R: TableRegistry, T: ProcessingTracker, B: FileBacklog, C: Catalog> Processor<R, T, B, C> {
    /// The table's chunks under `lease`; `slowest_chunk` is the invocation's slowest so far.
    pub(super) async fn run(
        &self,
        config: &TableConfig,
        lease: &Lease,
        invocation: &Invocation,
        slowest_chunk: &mut Duration,
    ) -> TableRun {
        let mut summary = TableSummary::new(&lease.table_id, RefreshOutcomeKind::NoFiles);
        let mut applied_here: HashSet<String> = HashSet::new();
        let mut last: Option<RefreshRecord> = None;
        let mut chunk_number = 0u32;
        let expires_at = self.lease_expiry(invocation);
        loop {
            if chunk_number > 0 && self.too_late(invocation, *slowest_chunk) {
                summary.more_pending = true;
                break;
            }
            chunk_number += 1;
            let started_at = self.clock.now();
            let refresh_id = refresh_id(started_at, lease.token, chunk_number);
            let run = ChunkRun {
                config,
                lease,
                refresh_id: &refresh_id,
                expires_at,
            };
            let chunk = self.run_chunk(&run, &applied_here, &mut summary).await;
            let elapsed = (self.clock.now() - started_at)
                .to_std()
                .unwrap_or(Duration::ZERO);
            *slowest_chunk = (*slowest_chunk).max(elapsed);
            let end = match chunk {
                Chunk::Empty if last.is_some() => break,
                Chunk::LostLease { done, error } => {
                    warn!(table_id = %lease.table_id, error = %error,
                        "lost the table's lease to another processor");
                    let summary = lost_table(summary, &done, &error);
                    return TableRun {
                        summary,
                        last: None,
                    };
                }
                chunk => chunk.end(&mut summary),
            };
            applied_here.extend(end.done.files.iter().chain(&end.done.superseded).cloned());
            let report = ChunkReport {
                refresh_id,
                started_at,
                done: end.done,
                error: end.error,
                earlier_chunks: last.is_some(),
            };
            let record = self.record_chunk(lease, &mut summary, report).await;
            let next = after_chunk(record.outcome, end.moved);
            last = Some(record);
            match next {
                Next::Chunk => {}
                Next::Stop => break,
                Next::StopMorePending => {
                    summary.more_pending = true;
                    break;
                }
            }
        }
        TableRun { summary, last }
    }

    /// Adds a chunk to the table's summary and writes its history item; returns the item.
    async fn record_chunk(
        &self,
        lease: &Lease,
        summary: &mut TableSummary,
        report: ChunkReport,
    ) -> RefreshRecord {
        let ChunkReport {
            refresh_id,
            started_at,
            done,
            error,
            earlier_chunks,
        } = report;
        let outcome = add_chunk(summary, &done, error.as_ref(), earlier_chunks);
        let now = self.clock.now();
        let record = RefreshRecord {
            table_id: lease.table_id.clone(),
            refresh_id,
            owner: lease.owner.clone(),
            started_at,
            finished_at: now,
            outcome,
            error: error.map(|e| e.to_string()),
            files: done.files,
            totals: done.totals,
            snapshot_version: done.snapshot_version,
            expires_at: now + chrono_duration(self.settings.history_ttl),
        };
        if let Err(e) = self.tracker.record_refresh(Some(lease), &record).await {
            warn!(table_id = %lease.table_id, error = %e,
                "could not write the processing-history item");
        }
        record
    }
}
