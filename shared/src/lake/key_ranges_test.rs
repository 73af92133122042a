#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use arrow::array::{Int32Array, StringArray};

use super::*;

#[test]
fn ranges_track_min_and_max_across_batches() {
    let mut tracker = RangeTracker::new(vec!["int".into(), "string".into()]);
    tracker.update(&[
        Arc::new(Int32Array::from(vec![5, 3])),
        Arc::new(StringArray::from(vec!["b", "c"])),
    ]);
    tracker.update(&[
        Arc::new(Int32Array::from(vec![9])),
        Arc::new(StringArray::from(vec!["a"])),
    ]);
    let ranges = tracker.finish().unwrap();
    assert_eq!(
        (ranges[0].min.clone(), ranges[0].max.clone()),
        (KeyBound::Int(3), KeyBound::Int(9))
    );
    assert_eq!(
        (ranges[1].min.clone(), ranges[1].max.clone()),
        (KeyBound::Text("a".into()), KeyBound::Text("c".into()))
    );
}

#[test]
fn a_null_key_makes_the_ranges_unknown() {
    let mut tracker = RangeTracker::new(vec!["int".into()]);
    tracker.update(&[Arc::new(Int32Array::from(vec![Some(1), None]))]);
    assert!(tracker.finish().is_none());
}

#[test]
fn containment_is_per_column_and_unknown_means_maybe() {
    let ranges = vec![KeyRange {
        hive_type: "int".into(),
        min: KeyBound::Int(10),
        max: KeyBound::Int(20),
    }];
    let types = vec!["int".to_owned()];
    assert!(may_contain(
        Some(&ranges),
        &types,
        &[Some(KeyBound::Int(15))]
    ));
    assert!(!may_contain(
        Some(&ranges),
        &types,
        &[Some(KeyBound::Int(21))]
    ));
    assert!(may_contain(None, &types, &[Some(KeyBound::Int(21))]));
    assert!(
        may_contain(
            Some(&ranges),
            &["bigint".to_owned()],
            &[Some(KeyBound::Int(21))]
        ),
        "range written under another type"
    );
}

#[test]
fn row_bounds_map_each_row() {
    let bounds = row_bounds(&[
        Arc::new(Int32Array::from(vec![Some(1), None])),
        Arc::new(StringArray::from(vec!["x", "y"])),
    ]);
    assert_eq!(
        bounds,
        vec![
            vec![Some(KeyBound::Int(1)), Some(KeyBound::Text("x".into()))],
            vec![None, Some(KeyBound::Text("y".into()))]
        ]
    );
}
