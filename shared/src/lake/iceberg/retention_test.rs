//! Unit tests of snapshot retention: which snapshots expire, and the files the retained ones
//! reference (what the garbage collector must keep).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use futures::TryStreamExt;
use iceberg::spec::{Operation, Summary};
use object_store::ObjectStore;

use super::*;
use crate::lake::iceberg::test_support::*;

/// Snapshot `id` (also its sequence number) taken `days` after `T0`.
fn snapshot(id: i64, days: i64) -> Snapshot {
    Snapshot::builder()
        .with_snapshot_id(id)
        .with_sequence_number(id)
        .with_timestamp_ms(T0 + days * DAY_MS)
        .with_manifest_list(format!("s3://lake/t/metadata/snap-{id}.avro"))
        .with_summary(Summary {
            operation: Operation::Append,
            additional_properties: HashMap::new(),
        })
        .build()
}

/// Snapshots 1..=8, taken three days apart.
fn eight_snapshots() -> Vec<Snapshot> {
    (1..=8).map(|id| snapshot(id, 3 * id)).collect()
}

#[test]
fn snapshots_older_than_the_window_expire_beyond_the_newest_five() {
    let snapshots = eight_snapshots();
    let now = T0 + 24 * DAY_MS + 1; // snapshot 8 is 0 days old, 7 three days, 6 six, 5 nine…
    let mut expired = RetentionPolicy::default().expired(&snapshots, Some(8), now);
    expired.sort_unstable();
    assert_eq!(expired, [1, 2, 3]);
}

#[test]
fn snapshots_within_the_window_are_kept_beyond_the_newest_five() {
    let snapshots = eight_snapshots();
    let policy = RetentionPolicy {
        max_snapshot_age: Duration::from_secs(20 * 24 * 3600),
        min_snapshots: 5,
    };
    let now = T0 + 24 * DAY_MS;
    let mut expired = policy.expired(&snapshots, Some(8), now);
    expired.sort_unstable();
    assert_eq!(expired, [1], "snapshots 2 and 3 are younger than 20 days");
}

#[test]
fn the_current_snapshot_is_kept_whatever_its_age() {
    let snapshots = eight_snapshots();
    let policy = RetentionPolicy {
        max_snapshot_age: Duration::from_secs(3600),
        min_snapshots: 1,
    };
    let mut expired = policy.expired(&snapshots, Some(2), T0 + 100 * DAY_MS);
    expired.sort_unstable();
    assert_eq!(expired, [1, 3, 4, 5, 6, 7]);
}

#[test]
fn the_policy_is_written_as_icebergs_own_table_properties() {
    let properties = RetentionPolicy::default().table_properties();
    assert_eq!(
        properties,
        [
            (
                "history.expire.max-snapshot-age-ms".to_owned(),
                "604800000".to_owned()
            ),
            (
                "history.expire.min-snapshots-to-keep".to_owned(),
                "5".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn the_referenced_files_hold_everything_a_retained_snapshot_needs_and_nothing_expired() {
    let mut lake = Lake::new();
    let policy = RetentionPolicy {
        max_snapshot_age: Duration::from_secs(24 * 3600),
        min_snapshots: 2,
    };
    let (a, b, c, d) = (
        file("a", "eu", 1),
        file("b", "us", 2),
        file("c", "us", 3),
        file("d", "eu", 4),
    );
    let rounds = [
        vec![a.clone(), b.clone()],
        vec![b.clone(), c.clone()],
        vec![b.clone(), c.clone(), d.clone()],
        vec![c.clone(), d.clone()],
    ];
    let mut committed = Vec::new();
    for (n, files) in (1..).zip(rounds) {
        let mut table = desired(&files, false);
        table.retention = policy;
        committed.push(lake.publish_table(table, n).await);
        lake.now_ms += 2 * DAY_MS;
    }
    let current = committed.last().unwrap();
    let metadata = &current.metadata;
    assert_eq!(metadata.snapshots().len(), 2, "rounds 3 and 4 are retained");

    let referenced = referenced_files(&lake.io, metadata, &current.metadata_location)
        .await
        .unwrap();
    let key = |url: &str| lake.io.path(url).unwrap();
    for retained in metadata.snapshots() {
        assert!(referenced.contains(&key(retained.manifest_list())));
        for manifest in lake.manifest_files(retained).await {
            assert!(referenced.contains(&key(&manifest.manifest_path)));
        }
        for live in lake.live(retained).await {
            assert!(referenced.contains(&key(&live)), "{live}");
        }
    }
    for logged in metadata.metadata_log() {
        assert!(referenced.contains(&key(&logged.metadata_file)));
    }
    assert!(referenced.contains(&key(&current.metadata_location)));
    assert!(
        !referenced.contains(&key(&a.path)),
        "only expired snapshots held a"
    );
    let first = committed[0].metadata.current_snapshot().unwrap();
    assert!(!referenced.contains(&key(first.manifest_list())));

    let stored: Vec<_> = lake.store.list(None).try_collect().await.unwrap();
    let unreferenced = stored
        .iter()
        .filter(|meta| !referenced.contains(&meta.location))
        .count();
    assert!(unreferenced > 0, "the expired snapshots' manifest lists");
}
