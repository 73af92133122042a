//! Current mode: per key, the newest change of the refresh wins when it is newer than the stored
//! row and any tombstone; an upsert replaces the stored row, a delete removes it and leaves a
//! tombstone.

use arrow::array::{AsArray, StringArray};
use arrow::record_batch::RecordBatch;
use arrow::row::Rows;

use super::Plan;
use crate::lake::refresh::RefreshContext;
use crate::lake::refresh::batches::{op_values, order_values, project, take_rows};
use crate::lake::refresh::error::MergeError;
use crate::lake::refresh::key_lookup::{KeyIndex, KeyLookup, LookupIo, StoredFileId};
use crate::lake::table_config::meta_columns;

/// The refresh's changes, indexed by key.
struct KeyedChanges<'c> {
    keys: KeyIndex,
    orders: &'c StringArray,
    ops: &'c StringArray,
    /// The newest change row of each slot.
    winner: Vec<usize>,
}

/// What the table holds for each changed key (by slot) before the refresh.
struct StoredState {
    /// The newest stored row's `cdc_order`.
    order: Vec<Option<String>>,
    /// The files holding the key's rows.
    holders: Vec<Vec<StoredFileId>>,
    /// The newest order the key must beat: its stored row's or its live tombstone's.
    base: Vec<Option<String>>,
    /// What the lookups read.
    io: LookupIo,
}

/// The rows the winning changes write.
struct Decisions {
    /// Change rows upserted.
    upserts: Vec<u32>,
    /// Change rows deleting their key.
    deletes: Vec<u32>,
    /// Whether each slot's winner was applied.
    applied: Vec<bool>,
}

/// Plans `changes`: each key's newest change against the stored row and tombstones.
pub(super) async fn plan(
    context: RefreshContext<'_>,
    changes: &RecordBatch,
) -> Result<Plan, MergeError> {
    let keys = KeyIndex::build(context.layout, changes)?;
    let orders = order_values(changes)?;
    let keyed = KeyedChanges {
        winner: newest_change_per_key(&keys, orders),
        ops: op_values(changes)?,
        orders,
        keys,
    };
    let stored = stored_state(context, &keyed.keys).await?;
    let encoded = context.layout.encode_keys(changes)?;
    let mut plan = Plan {
        lookup_io: stored.io,
        ..Plan::default()
    };
    let decisions = decide(&keyed, &stored, &encoded, &mut plan);
    count_the_others(&keyed, &stored, &decisions.applied, &mut plan);
    plan.counts.changes_read = changes.num_rows() as u64;
    let rows = project(changes, &context.layout.rows)?;
    plan.additions = Some(take_rows(&rows, decisions.upserts)?);
    plan.tombstones = Some(take_rows(
        &project(changes, &context.layout.key_order_schema())?,
        decisions.deletes,
    )?);
    Ok(plan)
}

/// The row of each key's newest change (the first of equal ones).
fn newest_change_per_key(keys: &KeyIndex, orders: &StringArray) -> Vec<usize> {
    let mut winner: Vec<usize> = vec![usize::MAX; keys.len()];
    for (row, slot) in keys.row_slot.iter().enumerate() {
        if let Some(best) = winner.get_mut(*slot)
            && (*best == usize::MAX || orders.value(row) > orders.value(*best))
        {
            *best = row;
        }
    }
    winner
}

/// Looks up the stored rows (keys and `cdc_order` only) and live tombstones of the changed keys.
async fn stored_state(
    context: RefreshContext<'_>,
    keys: &KeyIndex,
) -> Result<StoredState, MergeError> {
    let lookup = KeyLookup::new(context, keys);
    let mut order: Vec<Option<String>> = vec![None; keys.len()];
    let mut holders: Vec<Vec<StoredFileId>> = vec![Vec::new(); keys.len()];
    let columns = context.layout.key_order_schema();
    let mut io = lookup
        .stored_rows(&columns, |found| {
            if let (Some(order), Some(holder)) =
                (order.get_mut(found.slot), holders.get_mut(found.slot))
            {
                let value = found
                    .batch
                    .column_by_name(meta_columns::ORDER)
                    .and_then(|c| c.as_string_opt::<i32>())
                    .map(|c| c.value(found.row));
                if let Some(value) = value
                    && order.as_deref().is_none_or(|current| value > current)
                {
                    *order = Some(value.to_owned());
                }
                holder.push(found.file.clone());
            }
        })
        .await?;
    let (tombstones, tombstone_io) = lookup.newest_tombstones().await?;
    io += tombstone_io;
    let base = order
        .iter()
        .zip(&tombstones)
        .map(|(stored, tombstone)| stored.clone().max(tombstone.clone()))
        .collect();
    Ok(StoredState {
        order,
        holders,
        base,
        io,
    })
}

/// Applies each key's newest change that is newer than what the table holds: counts it, marks
/// the stored row for removal and collects the row to write.
fn decide(
    changes: &KeyedChanges<'_>,
    stored: &StoredState,
    encoded: &Rows,
    plan: &mut Plan,
) -> Decisions {
    let mut decisions = Decisions {
        upserts: Vec::new(),
        deletes: Vec::new(),
        applied: vec![false; changes.keys.len()],
    };
    for (slot, &row) in changes.winner.iter().enumerate() {
        let newer = base(stored, slot).is_none_or(|b| changes.orders.value(row) > b);
        if !newer {
            continue;
        }
        let exists = stored.order.get(slot).is_some_and(Option::is_some);
        let is_delete = changes.ops.value(row) == "D";
        match (is_delete, exists) {
            (true, true) => plan.counts.deleted += 1,
            (true, false) => plan.counts.ignored += 1,
            (false, true) => plan.counts.updated += 1,
            (false, false) => plan.counts.inserted += 1,
        }
        if let Some(flag) = decisions.applied.get_mut(slot) {
            *flag = true;
        }
        if is_delete {
            decisions.deletes.push(row as u32);
        } else {
            decisions.upserts.push(row as u32);
        }
        if exists {
            plan.remove_keys.insert(encoded.row(row).as_ref().into());
            plan.rewrite
                .extend(stored.holders.get(slot).into_iter().flatten().cloned());
        }
    }
    decisions
}

/// Counts the changes that did not win: `ignored` when not newer than the stored state, equal
/// to the winner, or when the key's winner was not applied; `superseded` otherwise.
fn count_the_others(
    changes: &KeyedChanges<'_>,
    stored: &StoredState,
    applied: &[bool],
    plan: &mut Plan,
) {
    let orders = changes.orders;
    for (row, slot) in changes.keys.row_slot.iter().enumerate() {
        let winner = changes.winner.get(*slot);
        let applied = applied.get(*slot).copied().unwrap_or(false);
        if applied && winner == Some(&row) {
            continue;
        }
        let stale = base(stored, *slot).is_some_and(|b| orders.value(row) <= b);
        let duplicate = winner.is_some_and(|w| *w != row && orders.value(*w) == orders.value(row));
        if stale || duplicate || !applied {
            plan.counts.ignored += 1;
        } else {
            plan.counts.superseded += 1;
        }
    }
}

/// The order a change of `slot` must beat, if any.
fn base(stored: &StoredState, slot: usize) -> Option<&str> {
    stored.base.get(slot).and_then(Option::as_deref)
}
