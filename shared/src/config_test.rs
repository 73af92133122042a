//! Unit tests of `config`.

use std::collections::HashMap;

use super::*;
use crate::object_key::ObjectKey;

fn config(pairs: &[(&str, &str)]) -> Result<FileManagerConfig, ConfigError> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    FileManagerConfig::from_lookup(|name| map.get(name).cloned())
}

const REQUIRED: [(&str, &str); 2] = [
    (vars::FILE_TRACKER_TABLE, "tracker"),
    (vars::STAGING_BUCKET, "staging"),
];

#[test]
fn defaults_apply_when_only_required_settings_are_given() {
    let config = config(&REQUIRED).expect("valid");
    assert_eq!(config.file_tracker_table, "tracker");
    assert_eq!(config.layout.bucket(), "staging");
    assert_eq!(config.write_concurrency, 16);
    assert_eq!(config.log_level, Level::INFO);
    assert_eq!(config.aws.endpoint_url, None);
}

#[test]
fn missing_required_settings_are_named() {
    let err = config(&[(vars::STAGING_BUCKET, "b")]).expect_err("missing table");
    assert!(err.to_string().contains(vars::FILE_TRACKER_TABLE), "{err}");
    let err = config(&[(vars::FILE_TRACKER_TABLE, "t"), (vars::STAGING_BUCKET, " ")])
        .expect_err("blank bucket");
    assert!(err.to_string().contains(vars::STAGING_BUCKET), "{err}");
}

#[test]
fn date_partitioning_settings_shape_the_layout() {
    let mut pairs = REQUIRED.to_vec();
    pairs.push((vars::DMS_BUCKET_FOLDER, "dms/prod"));
    pairs.push((vars::DMS_DATE_PARTITION_SEQUENCE, "yyyymmddhh"));
    pairs.push((vars::DMS_DATE_PARTITION_DELIMITER, "DASH"));
    let config = config(&pairs).expect("valid");
    let key = ObjectKey::new("dms/prod/s/t/2024-03-01-10/20240301-101530123.csv".into())
        .expect("valid key");
    assert!(config.layout.classify("staging", &key).is_ok());
}

#[test]
fn invalid_values_list_the_accepted_ones() {
    let mut pairs = REQUIRED.to_vec();
    pairs.push((vars::DMS_DATE_PARTITION_SEQUENCE, "YYYY-MM"));
    let err = config(&pairs).expect_err("invalid sequence");
    assert!(err.to_string().contains("YYYYMMDDHH"), "{err}");

    let mut pairs = REQUIRED.to_vec();
    pairs.push((vars::TRACKER_WRITE_CONCURRENCY, "0"));
    assert!(matches!(config(&pairs), Err(ConfigError::Invalid { .. })));

    let mut pairs = REQUIRED.to_vec();
    pairs.push((vars::LOG_LEVEL, "loud"));
    assert!(matches!(config(&pairs), Err(ConfigError::Invalid { .. })));

    let mut pairs = REQUIRED.to_vec();
    pairs.push((vars::DMS_BUCKET_FOLDER, "a//b"));
    assert!(matches!(config(&pairs), Err(ConfigError::Layout(_))));
}
