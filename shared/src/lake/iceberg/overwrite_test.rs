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
    assert_eq!(
        metadata.properties()["history.expire.min-snapshots-to-keep"],
        "5"
    );
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

/// A table tree in a local folder: data files written with the table's arrow schema, published
/// twice (an append, then an overwrite replacing the `eu` file).
struct LocalTree {
    _dir: tempfile::TempDir,
    io: MetadataStore,
    first: CommittedMetadata,
    second: CommittedMetadata,
}

/// Writes a Parquet file of `(id, region, qty)` rows at `key` and returns its `LiveFile`.
async fn write_rows(
    store: &Arc<dyn ObjectStore>,
    io: &MetadataStore,
    schema: &Schema,
    key: &str,
    rows: &[(i64, &str, i32)],
) -> LiveFile {
    use arrow::array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
    let arrow_schema = crate::lake::iceberg::schema::file_arrow_schema(schema).unwrap();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.2))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|_| "o"))),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&arrow_schema), columns).unwrap();
    let mut bytes = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut bytes, arrow_schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let path = object_store::path::Path::parse(key).unwrap();
    let size = bytes.len() as u64;
    store.put(&path, bytes.into()).await.unwrap();
    LiveFile {
        path: io.url(&path),
        partition: Struct::from_iter([Some(iceberg::spec::Literal::string(rows[0].1))]),
        size,
        rows: rows.len() as u64,
    }
}

/// Publishes `files` as version `n` of the local tree's table, reading each added file's footer.
async fn publish_local(
    io: &MetadataStore,
    current: Option<CurrentTable>,
    table: DesiredTable,
    n: u64,
) -> CommittedMetadata {
    let OverwritePlan::Commit(pending) = plan(io, current, table, version(n)).await.unwrap() else {
        panic!("nothing to publish")
    };
    let mut added = Vec::new();
    for file in pending.added_files() {
        let stats = crate::lake::iceberg::stats::read_data_file(
            io,
            pending.schema(),
            pending.partition_spec_id(),
            file,
        );
        added.push(stats.await.unwrap());
    }
    pending
        .commit(io, added, T0 + n as i64 * DAY_MS)
        .await
        .unwrap()
}

async fn local_tree(dir: tempfile::TempDir) -> LocalTree {
    let store: Arc<dyn ObjectStore> =
        Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let io = MetadataStore::new(
        Arc::clone(&store),
        &format!("file://{}", dir.path().display()),
    );
    let location = io.url(&object_store::path::Path::from("db/orders"));
    let schema = desired(&[], false).schema;
    let eu = "db/orders/data/region=eu/v1/part-1.parquet";
    let us = "db/orders/data/region=us/v1/part-1.parquet";
    let eu2 = "db/orders/data/region=eu/v2/part-2.parquet";
    let eu_file = write_rows(&store, &io, &schema, eu, &[(1, "eu", 10), (2, "eu", 20)]).await;
    let us_file = write_rows(&store, &io, &schema, us, &[(3, "us", 30)]).await;
    let eu2_file = write_rows(&store, &io, &schema, eu2, &[(1, "eu", 11), (4, "eu", 40)]).await;
    let table = |files: Vec<LiveFile>| DesiredTable {
        location: location.clone(),
        ..desired(&files, false)
    };
    let first = publish_local(&io, None, table(vec![eu_file, us_file.clone()]), 1).await;
    let current = CurrentTable {
        metadata: first.metadata.clone(),
        metadata_location: first.metadata_location.clone(),
    };
    let second = publish_local(&io, Some(current), table(vec![eu2_file, us_file]), 2).await;
    LocalTree {
        _dir: dir,
        io,
        first,
        second,
    }
}

/// The `(id, region, qty)` rows the `iceberg` crate's own reader scans from the metadata file at
/// `location` (its own file IO on the local folder), at `snapshot` or the current one, with an
/// optional filter; and how many files the scan planned.
async fn crate_scan(
    location: &str,
    snapshot: Option<i64>,
    filter: Option<iceberg::expr::Predicate>,
) -> (Vec<(i64, String, i32)>, usize) {
    use arrow::array::{AsArray, RecordBatch};
    use arrow::datatypes::{Int32Type, Int64Type};
    use futures::TryStreamExt;
    let file_io = iceberg::io::FileIO::new_with_fs();
    let metadata = TableMetadata::read_from(&file_io, location).await.unwrap();
    let table = iceberg::table::Table::builder()
        .metadata(metadata)
        .metadata_location(location)
        .identifier(iceberg::TableIdent::from_strs(["db", "orders"]).unwrap())
        .file_io(file_io)
        .runtime(iceberg::Runtime::current())
        .build()
        .unwrap();
    let mut scan = table.scan().select(["id", "region", "qty"]);
    if let Some(id) = snapshot {
        scan = scan.snapshot_id(id);
    }
    if let Some(filter) = filter {
        scan = scan.with_filter(filter);
    }
    let scan = scan.build().unwrap();
    let planned: Vec<_> = scan
        .plan_files()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let batches: Vec<RecordBatch> = scan.to_arrow().await.unwrap().try_collect().await.unwrap();
    let mut rows = Vec::new();
    for batch in batches {
        let ids = batch.column(0).as_primitive::<Int64Type>();
        let regions = batch.column(1).as_string::<i32>();
        let qty = batch.column(2).as_primitive::<Int32Type>();
        for i in 0..batch.num_rows() {
            rows.push((ids.value(i), regions.value(i).to_owned(), qty.value(i)));
        }
    }
    rows.sort();
    (rows, planned.len())
}

fn rows(spec: &[(i64, &str, i32)]) -> Vec<(i64, String, i32)> {
    spec.iter()
        .map(|(id, r, q)| (*id, (*r).to_owned(), *q))
        .collect()
}

#[tokio::test]
async fn the_crates_own_reader_scans_a_local_table_tree_and_travels_back_in_time() {
    let tree = local_tree(tempfile::tempdir().unwrap()).await;
    let location = &tree.second.metadata_location;
    assert!(location.starts_with("file:///"), "{location}");

    let (current, _) = crate_scan(location, None, None).await;
    assert_eq!(
        current,
        rows(&[(1, "eu", 11), (3, "us", 30), (4, "eu", 40)])
    );
    let (previous, _) = crate_scan(location, tree.first.snapshot_id, None).await;
    assert_eq!(
        previous,
        rows(&[(1, "eu", 10), (2, "eu", 20), (3, "us", 30)])
    );
    let stored = tree.io.read_metadata(location).await.unwrap();
    assert_eq!(stored, tree.second.metadata);
}

#[tokio::test]
async fn the_crates_scan_prunes_files_with_the_stats_in_the_manifests() {
    let tree = local_tree(tempfile::tempdir().unwrap()).await;
    let location = &tree.second.metadata_location;
    let id_at_least_4 =
        iceberg::expr::Reference::new("id").greater_than_or_equal_to(iceberg::spec::Datum::long(4));

    let (_, all_files) = crate_scan(location, None, None).await;
    let (found, planned) = crate_scan(location, None, Some(id_at_least_4)).await;
    assert_eq!(all_files, 2);
    assert_eq!(planned, 1, "the us file's id bounds [3, 3] exclude it");
    assert!(found.contains(&(4, "eu".to_owned(), 40)), "{found:?}");
}

/// Writes the local table tree into `$TRIBUTARY_ICEBERG_SAMPLE_DIR` and prints its metadata
/// location, for independent readers (pyiceberg, DuckDB): `cargo test -p tributary-shared --lib
/// write_a_sample_table_tree -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "writes a sample tree for readers outside Rust; needs TRIBUTARY_ICEBERG_SAMPLE_DIR"]
async fn write_a_sample_table_tree_for_independent_readers() {
    let dir = std::env::var("TRIBUTARY_ICEBERG_SAMPLE_DIR").unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    let kept = tempfile::Builder::new()
        .prefix("tributary-iceberg-")
        .tempdir_in(&dir)
        .unwrap();
    let tree = local_tree(kept).await;
    let LocalTree {
        _dir: kept, second, ..
    } = tree;
    println!("metadata_location={}", second.metadata_location);
    println!(
        "first_snapshot_id={}",
        second.metadata.history()[0].snapshot_id
    );
    let _ = kept.keep();
}
