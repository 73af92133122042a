#![allow(clippy::unwrap_used)]
use super::*;
use crate::lake::partitioning::GLUE_MAX_PARTITION_VALUE_CHARS;

fn values(pairs: &[(&str, Option<&str>)]) -> PartitionValues {
    PartitionValues(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
            .collect(),
    )
}

#[test]
fn the_longest_key_counts_the_widest_version_refresh_id_and_file_name() {
    let location = Path::from("sales/orders");
    // sales/orders/data/region=eu/v<10>-<64>/part-<10>-<5>.parquet
    let expected = "sales/orders/data/region=eu/".len()
        + "v0000000001-".len()
        + MAX_REFRESH_ID_LEN
        + "/part-0000000001-00000.parquet".len();
    assert_eq!(longest_key_bytes(&location, "region=eu"), expected);
    // Unpartitioned, the tombstones are the longest keys.
    let tombstone = "sales/orders/_tributary/tombstones/v0000000001-".len()
        + MAX_REFRESH_ID_LEN
        + "-00000.parquet".len();
    assert_eq!(longest_key_bytes(&location, ""), tombstone);
    let room = S3_MAX_KEY_BYTES - (longest_key_bytes(&Path::from("x"), "") - 1);
    assert_eq!(room, 911, "README: target.location is at most 911 bytes");
}

#[test]
fn a_partition_is_checked_against_glue_then_s3_at_the_exact_limits() {
    let location = Path::from("t");
    let fits = "g".repeat(GLUE_MAX_PARTITION_VALUE_CHARS - 200);
    assert_eq!(
        check_partition(&location, &values(&[("k", Some(&fits))])),
        Ok(())
    );
    let overhead = longest_key_bytes(&location, "k=");
    let exact = "g".repeat(S3_MAX_KEY_BYTES - overhead);
    assert_eq!(
        check_partition(&location, &values(&[("k", Some(&exact))])),
        Ok(())
    );
    let over = format!("{exact}g");
    assert!(matches!(
        check_partition(&location, &values(&[("k", Some(&over))])),
        Err(PartitionLimitError::ObjectKeyTooLong {
            key_bytes: 1025,
            limit: 1024,
            ..
        })
    ));
    // Hive escaping counts: `/` takes three bytes in the key.
    let escaped = "/".repeat(exact.len() / 3 + 1);
    assert!(matches!(
        check_partition(&location, &values(&[("k", Some(&escaped))])),
        Err(PartitionLimitError::ObjectKeyTooLong { .. })
    ));
    let glue = "g".repeat(GLUE_MAX_PARTITION_VALUE_CHARS + 1);
    assert!(matches!(
        check_partition(&location, &values(&[("a", Some("x")), ("k", Some(&glue))])),
        Err(PartitionLimitError::GlueValueTooLong { length: 1025, .. })
    ));
    assert_eq!(check_partition(&location, &values(&[("k", None)])), Ok(()));
}
