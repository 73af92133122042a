//! Unit tests of the overwrite commit over an in-memory lake: appends, overwrites that carry
//! untouched manifests over and rewrite the others, reconciles that find the work done, summaries,
//! time travel, schema evolution and retention. Manifests are read back with the crate's readers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use futures::StreamExt;
use iceberg::spec::{ManifestStatus, SnapshotRef, Type};
use object_store::{ObjectStore, ObjectStoreExt};

use super::*;
use crate::lake::iceberg::test_support::*;

fn paths(files: &[&LiveFile]) -> BTreeSet<String> {
    files.iter().map(|f| f.path.clone()).collect()
}

fn summary(snapshot: &SnapshotRef) -> &HashMap<String, String> {
    &snapshot.summary().additional_properties
}

#[tokio::test]
async fn the_first_commit_creates_the_table_with_an_append() {
    let mut lake = Lake::new();
    let (a, b) = (file("a", "eu", 3), file("b", "us", 4));
    let committed = lake.publish(&[a.clone(), b.clone()], 1).await;

    let metadata = &committed.metadata;
    let snapshot = metadata.current_snapshot().unwrap();
    assert_eq!(snapshot.summary().operation, Operation::Append);
    assert_eq!(snapshot.parent_snapshot_id(), None);
    assert_eq!(snapshot.sequence_number(), 1);
    assert_eq!(committed.snapshot_id, Some(snapshot.snapshot_id()));
    assert_eq!(committed.previous_metadata_location, None);
    assert!(
        committed
            .metadata_location
            .starts_with("s3://lake/db/orders/metadata/00000-")
    );
    assert_eq!(
        metadata
            .snapshot_for_ref(MAIN_BRANCH)
            .unwrap()
            .snapshot_id(),
        snapshot.snapshot_id()
    );
    assert_eq!(lake.live(snapshot).await, paths(&[&a, &b]));
    let entries = lake.entries(snapshot).await;
    assert!(
        entries
            .iter()
            .all(|(_, status, id, seq)| *status == ManifestStatus::Added
                && *id == snapshot.snapshot_id()
                && *seq == 1),
        "{entries:?}"
    );
}

#[tokio::test]
async fn a_new_table_keeps_our_field_ids_and_has_one_schema_spec_and_sort_order() {
    let mut lake = Lake::new();
    let committed = lake.publish(&[file("a", "eu", 3)], 1).await;
    let metadata = &committed.metadata;

    let schema = metadata.current_schema();
    let ids: Vec<(String, i32)> = schema
        .as_struct()
        .fields()
        .iter()
        .map(|f| (f.name.clone(), f.id))
        .collect();
    assert_eq!(
        ids,
        [
            ("id".into(), 7),
            ("region".into(), 8),
            ("qty".into(), 9),
            ("cdc_order".into(), 1)
        ]
    );
    assert_eq!(schema.identifier_field_ids().collect::<Vec<_>>(), [7]);
    assert_eq!(metadata.schemas_iter().len(), 1);
    assert_eq!(metadata.last_column_id(), 9);
    assert_eq!(metadata.partition_specs_iter().len(), 1);
    let spec = metadata.default_partition_spec();
    let spec_fields: Vec<(i32, i32, &str)> = spec
        .fields()
        .iter()
        .map(|f| (f.source_id, f.field_id, f.name.as_str()))
        .collect();
    assert_eq!(spec_fields, [(8, 1000, "region")]);
    let order: Vec<i32> = metadata
        .default_sort_order()
        .fields
        .iter()
        .map(|f| f.source_id)
        .collect();
    assert_eq!(order, [7, 1]);
    assert_eq!(metadata.format_version(), FormatVersion::V2);
    assert_eq!(metadata.properties()["write.format.default"], "parquet");
}

#[tokio::test]
async fn removing_a_file_is_an_overwrite_that_carries_untouched_manifests_over() {
    let mut lake = Lake::new();
    let (a, b, c) = (file("a", "eu", 3), file("b", "us", 4), file("c", "us", 5));
    let first = lake.publish(&[a.clone(), b.clone()], 1).await;
    let second = lake.publish(&[a.clone(), b.clone(), c.clone()], 2).await;
    let s1 = first.snapshot_id.unwrap();
    let s2 = second.snapshot_id.unwrap();
    let second_snapshot = second.metadata.current_snapshot().unwrap().clone();
    let second_manifests = lake.manifest_files(&second_snapshot).await;
    let holding_c = second_manifests
        .iter()
        .find(|m| m.added_snapshot_id == s2)
        .unwrap()
        .clone();

    let a2 = file("a2", "eu", 3);
    let third = lake.publish(&[a2.clone(), b.clone(), c.clone()], 3).await;
    let snapshot = third.metadata.current_snapshot().unwrap().clone();
    let s3 = snapshot.snapshot_id();

    assert_eq!(snapshot.summary().operation, Operation::Overwrite);
    assert_eq!(snapshot.parent_snapshot_id(), Some(s2));
    assert_eq!(snapshot.sequence_number(), 3);
    let manifests = lake.manifest_files(&snapshot).await;
    assert_eq!(manifests.len(), 3, "{manifests:?}");
    assert!(
        manifests.contains(&holding_c),
        "the manifest without a removed file is carried over unchanged"
    );
    assert_eq!(lake.live(&snapshot).await, paths(&[&a2, &b, &c]));
    let entries = lake.entries(&snapshot).await;
    let entry = |f: &LiveFile| {
        entries
            .iter()
            .find(|e| e.0 == f.path)
            .map(|e| (e.1, e.2, e.3))
            .unwrap()
    };
    assert_eq!(entry(&a), (ManifestStatus::Deleted, s3, 1));
    assert_eq!(entry(&b), (ManifestStatus::Existing, s1, 1));
    assert_eq!(entry(&c), (ManifestStatus::Added, s2, 2));
    assert_eq!(entry(&a2), (ManifestStatus::Added, s3, 3));
}

#[tokio::test]
async fn the_summary_counts_the_commits_files_rows_bytes_and_tributarys_figures() {
    let mut lake = Lake::new();
    let (a, b, c) = (file("a", "eu", 3), file("b", "us", 4), file("c", "us", 5));
    lake.publish(&[a.clone(), b.clone()], 1).await;
    let committed = lake.publish(&[b.clone(), c.clone()], 2).await;
    let snapshot = committed.metadata.current_snapshot().unwrap();

    let expected = [
        ("added-data-files", "1"),
        ("deleted-data-files", "1"),
        ("added-records", "5"),
        ("deleted-records", "3"),
        ("added-files-size", "500"),
        ("removed-files-size", "300"),
        ("total-data-files", "2"),
        ("total-records", "9"),
        ("total-files-size", "900"),
        ("changed-partition-count", "2"),
        ("tributary.snapshot-version", "2"),
        ("tributary.refresh-id", "r2"),
        ("tributary.rows-inserted", "20"),
        ("tributary.rows-updated", "2"),
        ("tributary.rows-deleted", "0"),
    ];
    for (key, value) in expected {
        assert_eq!(
            summary(snapshot).get(key).map(String::as_str),
            Some(value),
            "{key}"
        );
    }
    assert_eq!(published_version(&committed.metadata), Some(2));
}

#[tokio::test]
async fn a_reconcile_of_a_published_version_finds_it_already_published() {
    let mut lake = Lake::new();
    let a = file("a", "eu", 3);
    let committed = lake.publish(std::slice::from_ref(&a), 4).await;

    for n in [4, 3] {
        let plan = lake
            .plan(desired(&[file("other", "us", 1)], false), n)
            .await;
        let OverwritePlan::AlreadyPublished {
            snapshot_id,
            snapshot_version,
        } = plan
        else {
            panic!("version {n} would be published again")
        };
        assert_eq!(
            (snapshot_id, snapshot_version),
            (committed.snapshot_id, Some(4))
        );
    }
}

#[tokio::test]
async fn a_reconcile_with_identical_files_makes_no_new_snapshot() {
    let mut lake = Lake::new();
    let (a, b) = (file("a", "eu", 3), file("b", "us", 4));
    let committed = lake.publish(&[a.clone(), b.clone()], 1).await;
    let objects_before = lake.store.list(None).count().await;

    let plan = lake.plan(desired(&[b, a], false), 2).await;
    assert!(
        matches!(
            plan,
            OverwritePlan::AlreadyPublished { snapshot_id, snapshot_version: Some(1) }
                if snapshot_id == committed.snapshot_id
        ),
        "{plan:?}"
    );
    assert_eq!(lake.store.list(None).count().await, objects_before);
}

#[tokio::test]
async fn the_previous_snapshot_still_lists_exactly_the_previous_files() {
    let mut lake = Lake::new();
    let (a, b, c) = (file("a", "eu", 3), file("b", "us", 4), file("c", "us", 5));
    let first = lake.publish(&[a.clone(), b.clone()], 1).await;
    let second = lake.publish(&[b.clone(), c.clone()], 2).await;
    let third = lake.publish(std::slice::from_ref(&c), 3).await;

    let metadata = &third.metadata;
    let snapshot = |id: Option<i64>| metadata.snapshot_by_id(id.unwrap()).unwrap().clone();
    assert_eq!(
        lake.live(&snapshot(first.snapshot_id)).await,
        paths(&[&a, &b])
    );
    assert_eq!(
        lake.live(&snapshot(second.snapshot_id)).await,
        paths(&[&b, &c])
    );
    assert_eq!(lake.live(&snapshot(third.snapshot_id)).await, paths(&[&c]));
    let history: Vec<i64> = metadata.history().iter().map(|l| l.snapshot_id).collect();
    let expected: Vec<i64> = [&first, &second, &third]
        .iter()
        .map(|c| c.snapshot_id.unwrap())
        .collect();
    assert_eq!(history, expected);
    let logged: Vec<&str> = metadata
        .metadata_log()
        .iter()
        .map(|l| l.metadata_file.as_str())
        .collect();
    assert_eq!(
        logged,
        [
            first.metadata_location.as_str(),
            second.metadata_location.as_str()
        ]
    );
    assert_eq!(
        third.previous_metadata_location.as_deref(),
        Some(second.metadata_location.as_str())
    );
    assert!(third.metadata_location.contains("/metadata/00002-"));
}

#[tokio::test]
async fn an_appended_column_is_a_new_schema_and_earlier_snapshots_keep_theirs() {
    let mut lake = Lake::new();
    let first = lake.publish(&[file("a", "eu", 3)], 1).await;
    let second = lake
        .publish_table(desired(&[file("a", "eu", 3), file("b", "us", 1)], true), 2)
        .await;

    let metadata = &second.metadata;
    assert_eq!(metadata.schemas_iter().len(), 2);
    let schema = metadata.current_schema();
    assert_eq!(schema.field_by_name("note").unwrap().id, 10);
    assert_eq!(schema.field_by_name("id").unwrap().id, 7);
    let first_schema = first.metadata.current_schema_id();
    assert_ne!(metadata.current_schema_id(), first_schema);
    let old = metadata.snapshot_by_id(first.snapshot_id.unwrap()).unwrap();
    assert_eq!(old.schema_id(), Some(first_schema));
    assert_eq!(
        metadata.current_snapshot().unwrap().schema_id(),
        Some(metadata.current_schema_id())
    );
    assert_eq!(metadata.last_column_id(), 10);
    assert_eq!(
        *schema.field_by_name("note").unwrap().field_type,
        Type::Primitive(iceberg::spec::PrimitiveType::String)
    );
}

#[tokio::test]
async fn a_new_table_without_rows_has_no_snapshot_until_files_arrive() {
    let mut lake = Lake::new();
    let committed = lake.publish(&[], 1).await;
    assert_eq!(committed.snapshot_id, None);
    assert!(committed.metadata.current_snapshot().is_none());

    let again = lake.plan(desired(&[], false), 2).await;
    assert!(matches!(
        again,
        OverwritePlan::AlreadyPublished {
            snapshot_id: None,
            ..
        }
    ));
    let next = lake.publish(&[file("a", "eu", 1)], 2).await;
    assert_eq!(
        next.metadata
            .current_snapshot()
            .unwrap()
            .summary()
            .operation,
        Operation::Append
    );
}

#[tokio::test]
async fn retention_expires_old_snapshots_but_keeps_the_newest_five() {
    let mut lake = Lake::new();
    let mut ids = Vec::new();
    for n in 1..=12 {
        let files: Vec<LiveFile> = (0..n).map(|i| file(&format!("f{i}"), "eu", 1)).collect();
        ids.push(lake.publish(&files, n).await.snapshot_id.unwrap());
        lake.now_ms += 2 * DAY_MS; // 3 days between publishes
    }
    let kept: BTreeSet<i64> = lake
        .metadata()
        .snapshots()
        .map(|s| s.snapshot_id())
        .collect();
    assert_eq!(kept, ids[7..].iter().copied().collect(), "the newest five");
    let history: Vec<i64> = lake
        .metadata()
        .history()
        .iter()
        .map(|l| l.snapshot_id)
        .collect();
    assert_eq!(history, ids[7..]);
}

#[tokio::test]
async fn a_data_file_that_differs_from_the_plan_is_refused() {
    let lake = Lake::new();
    let a = file("a", "eu", 3);
    let OverwritePlan::Commit(pending) =
        lake.plan(desired(std::slice::from_ref(&a), false), 1).await
    else {
        panic!("nothing to commit")
    };
    let mut wrong = a.clone();
    wrong.rows = 4;
    let spec_id = pending.partition_spec_id();
    let err = pending
        .commit(&lake.io, vec![data_file(&wrong, spec_id)], T0)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, IcebergError::FileMismatch { path, .. } if *path == a.path),
        "{err}"
    );
}

#[tokio::test]
async fn a_file_listed_twice_is_refused() {
    let lake = Lake::new();
    let a = file("a", "eu", 3);
    let err = plan(
        &lake.io,
        None,
        desired(&[a.clone(), a.clone()], false),
        version(1),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, IcebergError::FileMismatch { path, .. } if *path == a.path),
        "{err}"
    );
}

#[tokio::test]
async fn the_written_metadata_reads_back_through_the_store_and_the_crates_deserializer() {
    let mut lake = Lake::new();
    lake.publish(&[file("a", "eu", 3)], 1).await;
    let committed = lake.publish(&[file("b", "us", 3)], 2).await;

    let read = lake
        .io
        .read_metadata(&committed.metadata_location)
        .await
        .unwrap();
    assert_eq!(read, committed.metadata);
    let key = lake.io.path(&committed.metadata_location).unwrap();
    let raw = lake.store.get(&key).await.unwrap().bytes().await.unwrap();
    let parsed: TableMetadata = serde_json::from_slice(&raw).unwrap();
    assert_eq!(parsed, committed.metadata);
}
