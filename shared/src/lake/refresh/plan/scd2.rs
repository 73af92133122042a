//! SCD2 mode: every change is a version; the stored and new versions of each changed key are
//! sorted by `cdc_order` and re-linked (`valid_to` = the next version's `valid_from`,
//! `is_current` = last), so a late change lands in the middle of its key's chain.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, StringArray, TimestampMicrosecondArray, UInt32Array,
};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit, TimestampMicrosecondType};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use super::Plan;
use crate::lake::refresh::RefreshContext;
use crate::lake::refresh::batches::{column, op_values, order_values, take_rows};
use crate::lake::refresh::error::{MergeError, arrow};
use crate::lake::refresh::key_lookup::{KeyIndex, KeyLookup, LookupIo, StoredFileId};
use crate::lake::refresh::layout::Layout;
use crate::lake::table_config::meta_columns;

/// The stored versions of the changed keys.
struct StoredVersions {
    /// One single-row batch per stored version (row schema).
    rows: Vec<RecordBatch>,
    /// The key slot of each.
    slots: Vec<usize>,
    /// The files holding each key's versions, by slot.
    holders: Vec<Vec<StoredFileId>>,
    /// What the lookup read.
    io: LookupIo,
}

/// Every version of the changed keys: the stored ones, then the new ones.
struct VersionPool {
    /// The versions (row schema).
    batch: RecordBatch,
    /// The key slot of each row.
    slots: Vec<usize>,
    /// Rows before this index are stored versions.
    stored_count: usize,
}

/// The linking columns of a [`VersionPool`].
struct VersionColumns<'p> {
    orders: &'p StringArray,
    valid_from: TimestampMicrosecondArray,
    valid_to: TimestampMicrosecondArray,
    is_current: BooleanArray,
}

/// The re-linked chains: the pool rows written, each with its new `valid_to` and `is_current`.
#[derive(Default)]
struct Linked {
    rows: Vec<u32>,
    valid_to: Vec<Option<i64>>,
    is_current: Vec<bool>,
}

/// Plans `changes`: each changed key's chain of versions, stored and new, re-linked.
pub(super) async fn plan(
    context: RefreshContext<'_>,
    changes: &RecordBatch,
) -> Result<Plan, MergeError> {
    let keys = KeyIndex::build(context.layout, changes)?;
    let stored = stored_versions(context, &keys).await?;
    let mut pool_parts = stored.rows;
    pool_parts.push(new_versions(context.layout, changes)?);
    let mut slots = stored.slots;
    let stored_count = slots.len();
    slots.extend(keys.row_slot.iter().copied());
    let pool = VersionPool {
        batch: concat_batches(&context.layout.rows, &pool_parts)
            .map_err(arrow("collecting versions"))?,
        slots,
        stored_count,
    };
    let mut plan = Plan {
        lookup_io: stored.io,
        ..Plan::default()
    };
    plan.counts.changes_read = changes.num_rows() as u64;
    let linked = link_chains(
        context.layout,
        &pool,
        keys.len(),
        &stored.holders,
        &mut plan,
    )?;
    plan.additions = Some(linked_rows(&context.layout.rows, &pool, linked)?);
    Ok(plan)
}

/// Looks up the stored versions (full rows) of the changed keys.
async fn stored_versions(
    context: RefreshContext<'_>,
    keys: &KeyIndex,
) -> Result<StoredVersions, MergeError> {
    let mut holders: Vec<Vec<StoredFileId>> = vec![Vec::new(); keys.len()];
    let mut found_rows: Vec<(usize, RecordBatch, u32)> = Vec::new();
    let io = KeyLookup::new(context, keys)
        .stored_rows(&context.layout.rows, |found| {
            found_rows.push((found.slot, found.batch.clone(), found.row as u32));
            if let Some(holder) = holders.get_mut(found.slot) {
                holder.push(found.file.clone());
            }
        })
        .await?;
    let mut versions = StoredVersions {
        rows: Vec::with_capacity(found_rows.len()),
        slots: Vec::with_capacity(found_rows.len()),
        holders,
        io,
    };
    for (slot, batch, row) in found_rows {
        versions.rows.push(
            take_record_batch(&batch, &UInt32Array::from(vec![row]))
                .map_err(arrow("collecting versions"))?,
        );
        versions.slots.push(slot);
    }
    Ok(versions)
}

/// The changes as SCD2 version rows (`valid_to`/`is_current` are filled when linked).
fn new_versions(layout: &Layout, changes: &RecordBatch) -> Result<RecordBatch, MergeError> {
    let time = DataType::Timestamp(TimeUnit::Microsecond, None);
    let rows = changes.num_rows();
    let ops = op_values(changes)?;
    let deleted: BooleanArray = ops.iter().map(|op| Some(op == Some("D"))).collect();
    let mut columns = Vec::with_capacity(layout.rows.fields().len());
    for field in layout.rows.fields() {
        let column: ArrayRef = match field.name().as_str() {
            meta_columns::VALID_FROM => Arc::clone(column(
                changes,
                meta_columns::VALID_FROM,
                "building versions",
            )?),
            meta_columns::VALID_TO => arrow::array::new_null_array(&time, rows),
            meta_columns::IS_CURRENT => Arc::new(BooleanArray::from(vec![false; rows])),
            meta_columns::IS_DELETED => Arc::new(deleted.clone()),
            name => Arc::clone(column(changes, name, "building versions")?),
        };
        columns.push(column);
    }
    RecordBatch::try_new(Arc::clone(&layout.rows), columns).map_err(arrow("building versions"))
}

/// The linking columns of the pool; their absence is an engine bug.
fn version_columns(pool: &RecordBatch) -> Result<VersionColumns<'_>, MergeError> {
    let timestamps = |name: &str| {
        pool.column_by_name(name)
            .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
            .cloned()
    };
    let is_current = pool
        .column_by_name(meta_columns::IS_CURRENT)
        .and_then(|c| c.as_boolean_opt())
        .cloned();
    let (Some(valid_from), Some(valid_to), Some(is_current)) = (
        timestamps(meta_columns::VALID_FROM),
        timestamps(meta_columns::VALID_TO),
        is_current,
    ) else {
        return Err(MergeError::Arrow {
            context: "linking versions",
            source: ArrowError::SchemaError("scd2 columns missing".into()),
        });
    };
    Ok(VersionColumns {
        orders: order_values(pool)?,
        valid_from,
        valid_to,
        is_current,
    })
}

/// Sorts each changed key's versions by `cdc_order`, drops duplicates (counted `ignored`) and,
/// for every chain with a new version, links it and marks its stored rows for replacement.
fn link_chains(
    layout: &Layout,
    pool: &VersionPool,
    key_count: usize,
    holders: &[Vec<StoredFileId>],
    plan: &mut Plan,
) -> Result<Linked, MergeError> {
    let columns = version_columns(&pool.batch)?;
    let mut chains: Vec<Vec<usize>> = vec![Vec::new(); key_count];
    for (index, slot) in pool.slots.iter().enumerate() {
        if let Some(chain) = chains.get_mut(*slot) {
            chain.push(index);
        }
    }
    let encoded = layout.encode_keys(&pool.batch)?;
    let mut linked = Linked::default();
    for (slot, chain) in chains.iter_mut().enumerate() {
        let orders = columns.orders;
        chain.sort_by(|a, b| orders.value(*a).cmp(orders.value(*b)).then(a.cmp(b)));
        let before = chain.len();
        chain.dedup_by(|later, earlier| orders.value(*later) == orders.value(*earlier));
        plan.counts.ignored += (before - chain.len()) as u64;
        let new_in_chain = chain.iter().filter(|i| **i >= pool.stored_count).count();
        if new_in_chain == 0 {
            continue;
        }
        plan.counts.inserted += new_in_chain as u64;
        let Some(&first) = chain.first() else {
            continue;
        };
        plan.remove_keys.insert(encoded.row(first).as_ref().into());
        plan.rewrite
            .extend(holders.get(slot).into_iter().flatten().cloned());
        plan.counts.updated += link_chain(chain, &columns, pool.stored_count, &mut linked);
    }
    Ok(linked)
}

/// Links one sorted chain into `linked`; returns how many stored versions it changed.
fn link_chain(
    chain: &[usize],
    columns: &VersionColumns<'_>,
    stored_count: usize,
    linked: &mut Linked,
) -> u64 {
    let mut relinked = 0;
    for (position, &index) in chain.iter().enumerate() {
        let next = chain.get(position + 1);
        let valid_from = &columns.valid_from;
        let to = next.and_then(|n| valid_from.is_valid(*n).then(|| valid_from.value(*n)));
        let is_current = next.is_none();
        if index < stored_count {
            let valid_to = &columns.valid_to;
            let old_to = valid_to.is_valid(index).then(|| valid_to.value(index));
            if old_to != to || columns.is_current.value(index) != is_current {
                relinked += 1;
            }
        }
        linked.rows.push(index as u32);
        linked.valid_to.push(to);
        linked.is_current.push(is_current);
    }
    relinked
}

/// The linked pool rows with their new `valid_to` and `is_current` (row schema).
fn linked_rows(
    rows_schema: &SchemaRef,
    pool: &VersionPool,
    linked: Linked,
) -> Result<RecordBatch, MergeError> {
    let additions = take_rows(&pool.batch, linked.rows)?;
    let mut columns = additions.columns().to_vec();
    let mut replace = |name: &str, array: ArrayRef| {
        if let Ok(index) = rows_schema.index_of(name)
            && let Some(slot) = columns.get_mut(index)
        {
            *slot = array;
        }
    };
    replace(
        meta_columns::VALID_TO,
        Arc::new(TimestampMicrosecondArray::from(linked.valid_to)),
    );
    replace(
        meta_columns::IS_CURRENT,
        Arc::new(BooleanArray::from(linked.is_current)),
    );
    RecordBatch::try_new(Arc::clone(rows_schema), columns).map_err(arrow("linking versions"))
}
