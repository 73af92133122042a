//! Unit tests of `config`.

use std::collections::HashMap;

use super::*;
use crate::domain::object_key::ObjectKey;

fn config(pairs: &[(&str, &str)]) -> Result<FileManagerConfig, ConfigError> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    FileManagerConfig::from_lookup(|name| map.get(name).cloned())
}

const REQUIRED: [(&str, &str); 3] = [
    (vars::FILE_TRACKER_TABLE, "tracker"),
    (vars::CONFIG_TABLE, "config"),
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
    let err = config(&[(vars::FILE_TRACKER_TABLE, "t"), (vars::STAGING_BUCKET, "b")])
        .expect_err("missing config table");
    assert!(err.to_string().contains(vars::CONFIG_TABLE), "{err}");
    let err = config(&[
        (vars::FILE_TRACKER_TABLE, "t"),
        (vars::CONFIG_TABLE, "c"),
        (vars::STAGING_BUCKET, " "),
    ])
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

// --- processor ---------------------------------------------------------------------------------

const PROCESSOR_REQUIRED: [(&str, &str); 5] = [
    (vars::LAKE_BUCKET, "lake"),
    (vars::FILE_TRACKER_TABLE, "tracker"),
    (vars::PROCESSING_TABLE, "processing"),
    (vars::CONFIG_TABLE, "tables"),
    (vars::STAGING_BUCKET, "staging"),
];

fn processor(pairs: &[(&str, &str)]) -> Result<ProcessorConfig, ConfigError> {
    let map: HashMap<&str, &str> = pairs.iter().copied().collect();
    ProcessorConfig::from_lookup(|name| map.get(name).map(|v| (*v).to_owned()))
}

/// The required settings plus `name=value`.
fn processor_with(name: &str, value: &str) -> Result<ProcessorConfig, ConfigError> {
    let mut pairs = PROCESSOR_REQUIRED.to_vec();
    pairs.push((name, value));
    processor(&pairs)
}

const MINUTE: u64 = 60;
const DAY: u64 = 86_400;

#[test]
fn processor_defaults_apply_when_only_required_settings_are_given() {
    let config = processor(&PROCESSOR_REQUIRED).expect("valid");
    let expected = ProcessorConfig {
        aws: AwsSettings::default(),
        file_tracker_table: "tracker".into(),
        processing_table: "processing".into(),
        config_table: "tables".into(),
        staging_bucket: "staging".into(),
        lake_bucket: "lake".into(),
        settings: ProcessorSettings {
            lake_url: "s3://lake".into(),
            backlog_limit: BacklogLimit {
                max_files: 500,
                max_bytes: 256 * 1024 * 1024,
            },
            quarantine_after: 3,
            deadline_margin: Duration::from_secs(60),
            lease_slack: Duration::from_secs(30),
            gc_grace: Duration::from_secs(10 * MINUTE),
            processed_file_ttl: Duration::from_secs(30 * DAY),
            history_ttl: Duration::from_secs(90 * DAY),
        },
        log_level: Level::INFO,
    };
    assert_eq!(config, expected);
}

#[test]
fn processor_settings_are_read_from_their_variables() {
    let mut pairs = PROCESSOR_REQUIRED.to_vec();
    pairs.extend([
        (vars::MAX_FILES_PER_REFRESH, "10000"),
        (vars::MAX_BYTES_PER_REFRESH, "1048576"),
        (vars::QUARANTINE_AFTER, " 5 "),
        (vars::DEADLINE_MARGIN_SECONDS, "900"),
        (vars::GC_GRACE_MINUTES, "15"),
        (vars::PROCESSED_FILE_TTL_DAYS, "1"),
        (vars::HISTORY_TTL_DAYS, "3650"),
        (vars::LOG_LEVEL, "debug"),
        (vars::AWS_ENDPOINT_URL, "http://localhost:4566"),
    ]);
    let config = processor(&pairs).expect("valid");
    let settings = &config.settings;
    assert_eq!(
        settings.backlog_limit,
        BacklogLimit {
            max_files: 10_000,
            max_bytes: 1_048_576
        }
    );
    assert_eq!(settings.quarantine_after, 5);
    assert_eq!(settings.deadline_margin, Duration::from_secs(900));
    assert_eq!(settings.gc_grace, Duration::from_secs(15 * MINUTE));
    assert_eq!(settings.processed_file_ttl, Duration::from_secs(DAY));
    assert_eq!(settings.history_ttl, Duration::from_secs(3_650 * DAY));
    assert_eq!(config.log_level, Level::DEBUG);
    assert_eq!(
        config.aws.endpoint_url.as_deref(),
        Some("http://localhost:4566")
    );
}

#[test]
fn the_lake_url_is_the_lake_buckets_s3_url() {
    let config = processor_with(vars::LAKE_BUCKET, "acme-lake-prod").expect("valid");
    assert_eq!(config.lake_bucket, "acme-lake-prod");
    assert_eq!(config.settings.lake_url, "s3://acme-lake-prod");
}

#[test]
fn each_missing_processor_setting_is_named() {
    for (missing, _) in PROCESSOR_REQUIRED {
        for absent in [None, Some("  ")] {
            let pairs: Vec<(&str, &str)> = PROCESSOR_REQUIRED
                .iter()
                .copied()
                .filter(|(name, _)| *name != missing)
                .chain(absent.map(|blank| (missing, blank)))
                .collect();
            let err = processor(&pairs).expect_err("missing setting");
            assert!(
                matches!(err, ConfigError::Missing { variable, .. } if variable == missing),
                "{missing} {absent:?}: {err:?}"
            );
            assert!(err.to_string().contains(missing), "{err}");
        }
    }
}

#[test]
fn out_of_range_processor_numbers_name_the_variable_and_the_range() {
    for (variable, value, range) in [
        (vars::MAX_FILES_PER_REFRESH, "0", "from 1 to 10000"),
        (vars::MAX_FILES_PER_REFRESH, "10001", "from 1 to 10000"),
        (
            vars::MAX_BYTES_PER_REFRESH,
            "0",
            "from 1 to 18446744073709551615",
        ),
        (vars::QUARANTINE_AFTER, "101", "from 1 to 100"),
        (vars::DEADLINE_MARGIN_SECONDS, "901", "from 1 to 900"),
        (vars::GC_GRACE_MINUTES, "10081", "from 1 to 10080"),
        (vars::PROCESSED_FILE_TTL_DAYS, "3651", "from 1 to 3650"),
        (vars::HISTORY_TTL_DAYS, "-1", "from 1 to 3650"),
        (vars::HISTORY_TTL_DAYS, "ten", "from 1 to 3650"),
    ] {
        let err = processor_with(variable, value).expect_err("out of range");
        assert!(
            matches!(&err, ConfigError::Invalid { variable: v, value: found, expected }
                if *v == variable && found == value && expected.ends_with(range)),
            "{variable}={value}: {err:?}"
        );
        assert!(err.to_string().contains(variable), "{err}");
    }
}

fn batch_manager(pairs: &[(&str, &str)]) -> Result<BatchManagerConfig, ConfigError> {
    let map: HashMap<&str, &str> = pairs.iter().copied().collect();
    BatchManagerConfig::from_lookup(|name| map.get(name).map(|v| (*v).to_owned()))
}

const BATCH_MANAGER_REQUIRED: [(&str, &str); 3] = [
    (vars::CONFIG_TABLE, "config"),
    (vars::FILE_TRACKER_TABLE, "files"),
    (vars::PROCESSING_TABLE, "processing"),
];

#[test]
fn batch_manager_reads_its_tables_and_defaults_the_lookup_concurrency() {
    assert_eq!(
        batch_manager(&BATCH_MANAGER_REQUIRED),
        Ok(BatchManagerConfig {
            aws: AwsSettings::default(),
            config_table: "config".to_owned(),
            file_tracker_table: "files".to_owned(),
            processing_table: "processing".to_owned(),
            lookup_concurrency: BatchManagerConfig::DEFAULT_LOOKUP_CONCURRENCY as usize,
            log_level: Level::INFO,
        })
    );
    let mut pairs = BATCH_MANAGER_REQUIRED.to_vec();
    pairs.push((vars::BACKLOG_LOOKUP_CONCURRENCY, "4"));
    assert_eq!(batch_manager(&pairs).map(|c| c.lookup_concurrency), Ok(4));
}

#[test]
fn each_missing_batch_manager_setting_is_named() {
    for missing in BATCH_MANAGER_REQUIRED.map(|(name, _)| name) {
        let pairs: Vec<(&str, &str)> = BATCH_MANAGER_REQUIRED
            .iter()
            .copied()
            .filter(|(name, _)| *name != missing)
            .collect();
        let error = batch_manager(&pairs).map_err(|e| e.to_string());
        assert!(
            matches!(&error, Err(message) if message.starts_with(missing)),
            "{missing}: {error:?}"
        );
    }
    let mut pairs = BATCH_MANAGER_REQUIRED.to_vec();
    pairs.push((vars::BACKLOG_LOOKUP_CONCURRENCY, "0"));
    let zero = batch_manager(&pairs);
    assert!(
        matches!(
            &zero,
            Err(ConfigError::Invalid { variable: vars::BACKLOG_LOOKUP_CONCURRENCY, value, .. })
                if value == "0"
        ),
        "0 lookups in flight: {zero:?}"
    );
}
