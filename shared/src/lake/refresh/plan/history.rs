//! History mode: every change is appended as a row.

use arrow::record_batch::RecordBatch;

use super::Plan;
use crate::lake::refresh::RefreshCounts;
use crate::lake::refresh::batches::project;
use crate::lake::refresh::error::MergeError;
use crate::lake::refresh::layout::Layout;

/// Appends every change.
pub(super) fn plan(layout: &Layout, changes: &RecordBatch) -> Result<Plan, MergeError> {
    let rows = changes.num_rows() as u64;
    Ok(Plan {
        additions: Some(project(changes, &layout.rows)?),
        counts: RefreshCounts {
            changes_read: rows,
            inserted: rows,
            ..RefreshCounts::default()
        },
        ..Plan::default()
    })
}
