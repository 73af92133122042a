#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use arrow::array::{AsArray, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use futures::stream;

use super::*;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, true),
        Field::new("v", DataType::Utf8, true),
    ]))
}

fn batch(keys: &[i64]) -> RecordBatch {
    let values: Vec<String> = keys.iter().map(|k| format!("v{k}")).collect();
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(keys.to_vec())),
            Arc::new(StringArray::from(values)),
        ],
    )
    .unwrap()
}

fn input(batches: Vec<RecordBatch>) -> BoxStream<'static, Result<RecordBatch, ArrowError>> {
    stream::iter(batches.into_iter().map(Ok)).boxed()
}

async fn drain(mut merge: SortedMerge<'_, ArrowError>) -> (Vec<i64>, Vec<usize>) {
    let mut keys = Vec::new();
    let mut sizes = Vec::new();
    while let Some(batch) = merge.next_batch().await.unwrap() {
        sizes.push(batch.num_rows());
        let column = batch.column(0).as_primitive::<Int64Type>();
        let values = batch.column(1).as_string::<i32>();
        for (k, v) in column.iter().zip(values.iter()) {
            assert_eq!(
                v.unwrap(),
                format!("v{}", k.unwrap()),
                "columns stay aligned"
            );
            keys.push(k.unwrap());
        }
    }
    (keys, sizes)
}

#[tokio::test]
async fn interleaves_sorted_inputs_across_batch_boundaries() {
    let inputs = vec![
        input(vec![batch(&[1, 4]), batch(&[]), batch(&[7, 10])]),
        input(vec![batch(&[2, 3, 5])]),
        input(vec![]),
        input(vec![batch(&[6]), batch(&[8, 9, 11])]),
    ];
    let merge = SortedMerge::new(inputs, &schema(), vec![0], 4).unwrap();
    let (keys, sizes) = drain(merge).await;
    assert_eq!(keys, (1..=11).collect::<Vec<_>>());
    assert_eq!(sizes, vec![4, 4, 3]);
}

#[tokio::test]
async fn equal_keys_are_all_kept() {
    let inputs = vec![input(vec![batch(&[1, 2])]), input(vec![batch(&[1, 2])])];
    let (keys, _) = drain(SortedMerge::new(inputs, &schema(), vec![0], 100).unwrap()).await;
    assert_eq!(keys, vec![1, 1, 2, 2]);
}

#[tokio::test]
async fn no_inputs_yield_nothing() {
    let merge: SortedMerge<'_, ArrowError> =
        SortedMerge::new(Vec::new(), &schema(), vec![0], 8).unwrap();
    let (keys, sizes) = drain(merge).await;
    assert!(keys.is_empty() && sizes.is_empty());
}
