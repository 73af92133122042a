//! Merges streams of record batches that are each sorted by the same columns into one sorted
//! stream, holding one batch per input plus one output batch in memory.

use std::sync::Arc;

use arrow::compute::interleave_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, Rows, SortField};
use futures::StreamExt;
use futures::stream::BoxStream;

struct Cursor {
    batch: RecordBatch,
    rows: Rows,
    position: usize,
    /// Index of `batch` among the current output's sources, once referenced.
    source: Option<usize>,
}

/// A k-way merge of sorted inputs.
pub struct SortedMerge<'a, E> {
    inputs: Vec<BoxStream<'a, Result<RecordBatch, E>>>,
    cursors: Vec<Option<Cursor>>,
    converter: RowConverter,
    sort_columns: Vec<usize>,
    batch_rows: usize,
    started: bool,
}

impl<'a, E: From<ArrowError>> SortedMerge<'a, E> {
    /// Merges `inputs` (all with `schema`, each sorted ascending by `sort_columns`, nulls first)
    /// into batches of at most `batch_rows` rows.
    pub fn new(
        inputs: Vec<BoxStream<'a, Result<RecordBatch, E>>>,
        schema: &SchemaRef,
        sort_columns: Vec<usize>,
        batch_rows: usize,
    ) -> Result<Self, E> {
        let fields = sort_columns
            .iter()
            .map(|i| SortField::new(schema.field(*i).data_type().clone()))
            .collect();
        let converter = RowConverter::new(fields)?;
        let cursors = inputs.iter().map(|_| None).collect();
        Ok(SortedMerge {
            inputs,
            cursors,
            converter,
            sort_columns,
            batch_rows: batch_rows.max(1),
            started: false,
        })
    }

    async fn advance(&mut self, input: usize) -> Result<(), E> {
        let mut next = None;
        if let Some(stream) = self.inputs.get_mut(input) {
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                if batch.num_rows() > 0 {
                    next = Some(batch);
                    break;
                }
            }
        }
        let cursor = match next {
            Some(batch) => {
                let columns: Vec<_> = self
                    .sort_columns
                    .iter()
                    .map(|i| Arc::clone(batch.column(*i)))
                    .collect();
                let rows = self.converter.convert_columns(&columns)?;
                Some(Cursor {
                    batch,
                    rows,
                    position: 0,
                    source: None,
                })
            }
            None => None,
        };
        if let Some(slot) = self.cursors.get_mut(input) {
            *slot = cursor;
        }
        Ok(())
    }

    /// The next merged batch, or `None` when every input is exhausted.
    pub async fn next_batch(&mut self) -> Result<Option<RecordBatch>, E> {
        if !self.started {
            self.started = true;
            for input in 0..self.inputs.len() {
                self.advance(input).await?;
            }
        }
        let mut sources: Vec<RecordBatch> = Vec::new();
        let mut picks: Vec<(usize, usize)> = Vec::with_capacity(self.batch_rows);
        for cursor in self.cursors.iter_mut().flatten() {
            cursor.source = None;
        }
        while picks.len() < self.batch_rows {
            let mut smallest: Option<usize> = None;
            for (index, cursor) in self.cursors.iter().enumerate() {
                let Some(cursor) = cursor else { continue };
                let better = match smallest
                    .and_then(|s| self.cursors.get(s))
                    .and_then(Option::as_ref)
                {
                    None => true,
                    Some(best) => cursor.rows.row(cursor.position) < best.rows.row(best.position),
                };
                if better {
                    smallest = Some(index);
                }
            }
            let Some(index) = smallest else { break };
            let Some(Some(cursor)) = self.cursors.get_mut(index) else {
                break;
            };
            let source = match cursor.source {
                Some(source) => source,
                None => {
                    sources.push(cursor.batch.clone());
                    cursor.source = Some(sources.len() - 1);
                    sources.len() - 1
                }
            };
            picks.push((source, cursor.position));
            cursor.position += 1;
            if cursor.position >= cursor.batch.num_rows() {
                self.advance(index).await?;
            }
        }
        if picks.is_empty() {
            return Ok(None);
        }
        let refs: Vec<&RecordBatch> = sources.iter().collect();
        Ok(Some(interleave_record_batch(&refs, &picks)?))
    }
}

#[cfg(test)]
#[path = "sorted_merge_test.rs"]
mod tests;
