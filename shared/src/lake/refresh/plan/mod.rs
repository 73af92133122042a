//! Planning: what a refresh's changes do to the table, decided per storage mode before anything
//! is written (docs/DESIGN.md §7). One planner per mode — [`current`], [`history`], [`scd2`] —
//! each returning a [`Plan`] for the write phase.

mod current;
mod history;
mod scd2;

use std::collections::HashSet;

use arrow::record_batch::RecordBatch;

use super::error::MergeError;
use super::key_lookup::{LookupIo, StoredFileId};
use super::{RefreshContext, RefreshCounts};
use crate::lake::table_config::StorageMode;

/// The effect of a refresh, before it is written.
#[derive(Default)]
pub(super) struct Plan {
    /// Encoded keys whose stored rows are removed.
    pub(super) remove_keys: HashSet<Box<[u8]>>,
    /// Stored files holding such rows.
    pub(super) rewrite: HashSet<StoredFileId>,
    /// New lake rows (row schema).
    pub(super) additions: Option<RecordBatch>,
    /// New tombstones: key columns and `cdc_order`.
    pub(super) tombstones: Option<RecordBatch>,
    /// What happens to the rows.
    pub(super) counts: RefreshCounts,
    /// What looking up the changed keys read.
    pub(super) lookup_io: LookupIo,
}

/// Plans `changes` (the refresh's change batch) with the planner of the table's storage mode.
pub(super) async fn plan(
    context: RefreshContext<'_>,
    changes: &RecordBatch,
) -> Result<Plan, MergeError> {
    match context.config.mode {
        StorageMode::Current => current::plan(context, changes).await,
        StorageMode::History => history::plan(context.layout, changes),
        StorageMode::Scd2 => scd2::plan(context, changes).await,
    }
}
