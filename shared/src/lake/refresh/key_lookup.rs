//! Finding the stored rows and tombstones of the keys a refresh changes without reading the
//! table: a stored file is skipped when its key ranges in the snapshot exclude every changed key,
//! then when its row groups' bloom filters do; only row groups that may hold one are decoded, and
//! only the columns asked for (docs/DESIGN.md §9).

use std::collections::HashMap;
use std::ops::AddAssign;
use std::sync::Arc;

use arrow::array::{ArrayRef, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use object_store::path::Path;

use super::batches::{column, order_values};
use super::error::{MergeError, arrow};
use super::layout::{Layout, with_identity_columns};
use super::{BATCH_ROWS, RefreshContext};
use crate::lake::key_ranges::{KeyBound, KeyRange, may_contain, row_bounds};
use crate::lake::lake_files::{LakeFileError, StoredFile};
use crate::lake::partitioning::PartitionValues;
use crate::lake::schema_evolution::conform;

/// Changed keys of a refresh: encoded key → slot, with each slot's key bounds.
pub(super) struct KeyIndex {
    slots: HashMap<Box<[u8]>, usize>,
    bounds: Vec<Vec<Option<KeyBound>>>,
    /// Slot of every change row.
    pub(super) row_slot: Vec<usize>,
}

impl KeyIndex {
    /// The distinct keys of `changes`, numbered in order of first appearance.
    pub(super) fn build(layout: &Layout, changes: &RecordBatch) -> Result<KeyIndex, MergeError> {
        let keys = layout.encode_keys(changes)?;
        let mut slots: HashMap<Box<[u8]>, usize> = HashMap::with_capacity(changes.num_rows());
        let mut first_rows = Vec::new();
        let mut row_slot = Vec::with_capacity(changes.num_rows());
        for row in 0..changes.num_rows() {
            let next = slots.len();
            let slot = *slots.entry(keys.row(row).as_ref().into()).or_insert(next);
            if slot == next {
                first_rows.push(row as u32);
            }
            row_slot.push(slot);
        }
        let indices = UInt32Array::from(first_rows);
        let key_columns = layout
            .key_fields
            .iter()
            .map(|(name, _)| {
                let column = column(changes, name, "collecting keys")?;
                take(column, &indices, None).map_err(arrow("collecting keys"))
            })
            .collect::<Result<Vec<ArrayRef>, _>>()?;
        Ok(KeyIndex {
            slots,
            bounds: row_bounds(&key_columns),
            row_slot,
        })
    }

    /// How many distinct keys changed.
    pub(super) fn len(&self) -> usize {
        self.bounds.len()
    }

    /// The slot of an encoded key, when it changed.
    fn slot(&self, key: &[u8]) -> Option<usize> {
        self.slots.get(key).copied()
    }

    /// Slots whose key may be in a file with `ranges`.
    fn in_range(&self, ranges: Option<&[KeyRange]>, hive_types: &[String]) -> Vec<usize> {
        (0..self.bounds.len())
            .filter(|slot| {
                self.bounds
                    .get(*slot)
                    .is_some_and(|key| may_contain(ranges, hive_types, key))
            })
            .collect()
    }
}

/// A stored data file: its partition's path and its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct StoredFileId {
    /// The partition path (`PartitionValues::path`).
    pub(super) partition: String,
    /// The file name in the partition's folder.
    pub(super) file: String,
}

/// A row of a stored file that holds a changed key.
pub(super) struct StoredMatch<'b> {
    /// The key's slot.
    pub(super) slot: usize,
    /// The decoded batch holding the row.
    pub(super) batch: &'b RecordBatch,
    /// The row in `batch`.
    pub(super) row: usize,
    /// The file holding it.
    pub(super) file: &'b StoredFileId,
}

/// What key lookups read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct LookupIo {
    /// Stored files skipped by their key ranges in the snapshot.
    pub(super) files_pruned_by_range: u64,
    /// Stored files whose bloom filters excluded every changed key.
    pub(super) files_pruned_by_bloom: u64,
    /// Stored files whose key columns were decoded.
    pub(super) files_scanned: u64,
}

impl AddAssign for LookupIo {
    fn add_assign(&mut self, other: LookupIo) {
        self.files_pruned_by_range += other.files_pruned_by_range;
        self.files_pruned_by_bloom += other.files_pruned_by_bloom;
        self.files_scanned += other.files_scanned;
    }
}

/// What looking into one stored file found.
enum FileScan {
    /// Its key ranges exclude every changed key: nothing was read.
    PrunedByRange,
    /// Its bloom filters exclude every changed key: only the footer was read.
    PrunedByBloom,
    /// The batches of the row groups that may hold a changed key.
    Scanned(Vec<RecordBatch>),
}

impl LookupIo {
    /// Counts one file's scan.
    fn record(&mut self, scan: &FileScan) {
        match scan {
            FileScan::PrunedByRange => self.files_pruned_by_range += 1,
            FileScan::PrunedByBloom => self.files_pruned_by_bloom += 1,
            FileScan::Scanned(_) => self.files_scanned += 1,
        }
    }
}

/// One stored file to look into.
struct ScanTarget<'s> {
    location: Path,
    size: u64,
    ranges: Option<&'s [KeyRange]>,
    /// The columns to decode (conformed to this schema).
    columns: &'s SchemaRef,
    /// The file's partition, for a data file (identity partition columns are restored).
    partition: Option<&'s PartitionValues>,
}

/// Looks up the changed keys `keys` in the table's previous snapshot.
pub(super) struct KeyLookup<'a> {
    context: RefreshContext<'a>,
    keys: &'a KeyIndex,
}

impl<'a> KeyLookup<'a> {
    /// Lookups of `keys` in the refresh's previous snapshot.
    pub(super) fn new(context: RefreshContext<'a>, keys: &'a KeyIndex) -> KeyLookup<'a> {
        KeyLookup { context, keys }
    }

    /// Reads the stored rows of changed keys (only `columns`): every data file whose ranges and
    /// bloom filters may hold one, only the row groups that may; calls `on_match` for each.
    pub(super) async fn stored_rows(
        &self,
        columns: &SchemaRef,
        mut on_match: impl FnMut(StoredMatch<'_>),
    ) -> Result<LookupIo, MergeError> {
        let mut io = LookupIo::default();
        let root = self.context.root();
        for partition in &self.context.previous.partitions {
            let path = partition.values.path();
            for file in &partition.files {
                let target = ScanTarget {
                    location: root.data_file(partition.folder_of(file), &file.name),
                    size: file.size,
                    ranges: file.key_ranges.as_deref(),
                    columns,
                    partition: Some(&partition.values),
                };
                let scan = self.scan_file(target).await?;
                io.record(&scan);
                let FileScan::Scanned(batches) = scan else {
                    continue;
                };
                let id = StoredFileId {
                    partition: path.clone(),
                    file: file.name.clone(),
                };
                for batch in &batches {
                    let encoded = self.context.layout.encode_keys(batch)?;
                    for row in 0..batch.num_rows() {
                        if let Some(slot) = self.keys.slot(encoded.row(row).as_ref()) {
                            on_match(StoredMatch {
                                slot,
                                batch,
                                row,
                                file: &id,
                            });
                        }
                    }
                }
            }
        }
        Ok(io)
    }

    /// The newest tombstone order of each changed key (within the retention).
    pub(super) async fn newest_tombstones(
        &self,
    ) -> Result<(Vec<Option<String>>, LookupIo), MergeError> {
        let mut newest: Vec<Option<String>> = vec![None; self.keys.len()];
        let mut io = LookupIo::default();
        let columns = self.context.layout.key_order_schema();
        for tombstone in self.context.live_tombstones() {
            let target = ScanTarget {
                location: self.context.root().tombstone_file(&tombstone.name),
                size: tombstone.size,
                ranges: tombstone.key_ranges.as_deref(),
                columns: &columns,
                partition: None,
            };
            let scan = self.scan_file(target).await?;
            io.record(&scan);
            let FileScan::Scanned(batches) = scan else {
                continue;
            };
            for batch in &batches {
                let encoded = self.context.layout.encode_keys(batch)?;
                let orders = order_values(batch)?;
                for row in 0..batch.num_rows() {
                    if let Some(slot) = self.keys.slot(encoded.row(row).as_ref())
                        && let Some(entry) = newest.get_mut(slot)
                    {
                        let order = orders.value(row);
                        if entry.as_deref().is_none_or(|current| order > current) {
                            *entry = Some(order.to_owned());
                        }
                    }
                }
            }
        }
        Ok((newest, io))
    }

    /// Looks into one stored file: pruned by its ranges, by its bloom filters, or the batches
    /// that may hold changed keys (conformed to the target's columns).
    async fn scan_file(&self, target: ScanTarget<'_>) -> Result<FileScan, MergeError> {
        let layout = self.context.layout;
        let candidates = self.keys.in_range(target.ranges, &layout.key_hive_types);
        if candidates.is_empty() {
            return Ok(FileScan::PrunedByRange);
        }
        let lake = Arc::clone(self.context.lake);
        let mut stored = StoredFile::open(lake, target.location.clone(), target.size).await?;
        let probe: Vec<&[Option<KeyBound>]> = candidates
            .iter()
            .filter_map(|slot| self.keys.bounds.get(*slot).map(Vec::as_slice))
            .collect();
        let row_groups = stored
            .row_groups_with_any(&layout.key_fields, &probe)
            .await?;
        if row_groups.is_empty() {
            return Ok(FileScan::PrunedByBloom);
        }
        let names: Vec<String> = target
            .columns
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let path = target.location.to_string();
        let mut stream = stored.stream(Some(&names), Some(row_groups), BATCH_ROWS)?;
        let mut batches = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|source| LakeFileError::Parquet {
                path: path.clone(),
                source,
            })?;
            batches.push(with_identity_columns(
                self.context.config,
                &conform(&batch, target.columns)?,
                target.partition,
            )?);
        }
        Ok(FileScan::Scanned(batches))
    }
}
