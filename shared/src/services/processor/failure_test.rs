//! Unit tests of the typed failures: whose fault an attempt's failure is, how a table not run
//! is reported, and the texts summaries show. Its failure builders serve the fingerprint tests
//! too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::TimeZone;

use super::*;
use crate::domain::dms_layout::{FileFormat, FileKind};
use crate::lake::dms_reader::ReadError;
use crate::ports::catalog::CatalogError;

fn file(key: &str) -> BacklogFile {
    BacklogFile {
        id: format!("{key}#v1"),
        bucket: "staging".to_owned(),
        key: key.to_owned(),
        size: Some(10),
        kind: FileKind::Cdc,
        format: FileFormat::Csv,
        order_key: key.to_owned(),
        landed_at: Utc.with_ymd_and_hms(2024, 3, 1, 10, 0, 0).unwrap(),
        status: crate::ports::file_tracker::FileStatus::Landed,
        failures: 0,
        last_error: None,
        last_fingerprint: None,
        etag: Some("e1".to_owned()),
        version_id: None,
        sequencer: None,
        attempt: None,
    }
}

pub(in crate::services::processor) fn null_key(file: &str, row: usize) -> MergeError {
    MergeError::NullKey {
        file: file.to_owned(),
        row,
        column: "id".to_owned(),
    }
}

pub(in crate::services::processor) fn malformed_csv(file: &str, detail: &str) -> MergeError {
    MergeError::BadFile(ReadError::Csv {
        file: file.to_owned(),
        detail: detail.to_owned(),
    })
}

pub(in crate::services::processor) fn merge(error: MergeError) -> Failure {
    Failure::Merge(Box::new(error))
}

pub(in crate::services::processor) fn unreachable_store() -> StoreError {
    StoreError::Unreachable {
        store: "the file tracker",
        detail: "connection reset".to_owned(),
    }
}

fn lease_lost() -> StoreError {
    StoreError::LeaseLost {
        table_id: "sales.orders".to_owned(),
        token: 7,
    }
}

fn refused_store() -> StoreError {
    StoreError::Refused {
        store: "the file tracker",
        code: "AccessDeniedException".to_owned(),
        message: "no".to_owned(),
    }
}

#[test]
fn a_merge_error_naming_an_attempted_file_blames_that_file() {
    let files = [file("dms/a.csv"), file("dms/b.csv"), file("dms/c.csv")];
    let attempt = Attempt::merge(null_key("dms/b.csv", 1), &files, false);
    assert_eq!(attempt.cause, Cause::File(1));
    assert_eq!(attempt.failure.kind(), FailureKind::Merge);
}

#[test]
fn merge_errors_of_the_table_of_storage_or_of_no_named_file_blame_no_file() {
    let files = [file("dms/a.csv")];
    let refused = Attempt::merge(MergeError::CommitRefused("x".to_owned()), &files, false);
    assert_eq!(refused.cause, Cause::Table);
    let storage = MergeError::BadFile(ReadError::Storage {
        file: "dms/a.csv".to_owned(),
        source: object_store::Error::Generic {
            store: "S3",
            source: "connection reset".into(),
        },
    });
    assert_eq!(
        Attempt::merge(storage, &files, false).cause,
        Cause::Transient
    );
    let elsewhere = Attempt::merge(null_key("dms/other.csv", 1), &files, false);
    assert_eq!(elsewhere.cause, Cause::Unattributed);
}

#[test]
fn a_lost_lease_is_its_own_kind_at_the_commit_point_and_at_a_fenced_write() {
    let files = [file("dms/a.csv")];
    let at_commit = Attempt::merge(MergeError::CommitRefused("x".to_owned()), &files, true);
    assert_eq!(at_commit.cause, Cause::LeaseLost);
    assert_eq!(at_commit.failure.kind(), FailureKind::LeaseLost);
    let fenced = Attempt::store(StoreRequest::RecordProcessed, lease_lost());
    assert_eq!(fenced.cause, Cause::LeaseLost);
    assert_eq!(fenced.failure.kind(), FailureKind::LeaseLost);
}

#[test]
fn store_and_catalog_failures_are_transient_or_the_tables_never_a_files() {
    let throttled = Attempt::store(StoreRequest::RecordAttempt, unreachable_store());
    assert_eq!(throttled.cause, Cause::Transient);
    assert_eq!(throttled.failure.kind(), FailureKind::StateStore);
    let refused = Attempt::store(StoreRequest::RecordAttempt, refused_store());
    assert_eq!(refused.cause, Cause::Table);
    let catalog = Attempt::publish(PublishError::Catalog(CatalogError::Throttled(
        "slow down".to_owned(),
    )));
    assert_eq!(catalog.cause, Cause::Transient);
    assert_eq!(catalog.failure.kind(), FailureKind::Catalog);
    let keys_changed = Attempt::publish(PublishError::PartitionKeysChanged {
        database: "lake".to_owned(),
        table: "orders".to_owned(),
        current: "a".to_owned(),
        desired: "b".to_owned(),
    });
    assert_eq!(keys_changed.cause, Cause::Table);
}

#[test]
fn state_store_failures_say_which_request_failed() {
    let pending = Failure::StateStore {
        request: StoreRequest::ReadPending,
        source: unreachable_store(),
    };
    assert_eq!(
        pending.to_string(),
        "could not read the pending files: the file tracker could not be reached: connection reset"
    );
    let recording = Failure::StateStore {
        request: StoreRequest::RecordFailure,
        source: unreachable_store(),
    };
    assert_eq!(
        recording.to_string(),
        "recording the failure failed: the file tracker could not be reached: connection reset"
    );
}

#[test]
fn a_chunk_error_reports_the_files_count_or_quarantine() {
    let counted = ChunkError::Counted {
        failure: Failure::ProcessorDied,
        failures: 2,
        quarantine_after: 3,
    };
    assert!(
        counted
            .to_string()
            .ends_with("(failure 2 of 3 before quarantine)"),
        "{counted}"
    );
    let quarantined = ChunkError::Quarantined {
        key: "dms/a.csv".to_owned(),
        failures: 3,
        failure: merge(null_key("dms/a.csv", 1)),
    };
    assert!(
        quarantined
            .to_string()
            .starts_with("quarantined dms/a.csv after 3 failures: dms/a.csv: row 1"),
        "{quarantined}"
    );
    let uncounted = ChunkError::Uncounted {
        failure: Failure::ProcessorDied,
        recording: Failure::StateStore {
            request: StoreRequest::RecordFailure,
            source: refused_store(),
        },
    };
    assert!(
        uncounted
            .to_string()
            .contains(" (and recording the failure failed: "),
        "{uncounted}"
    );
}

#[test]
fn a_table_not_run_is_busy_inactive_or_failed_and_recorded_unless_nothing_was_learnt() {
    let busy = NotRun::Busy {
        owner: "req-2".to_owned(),
        expires_at: Utc.with_ymd_and_hms(2024, 3, 1, 10, 15, 0).unwrap(),
    };
    assert_eq!(busy.outcome(), RefreshOutcomeKind::Busy);
    assert!(busy.recorded());
    let inactive = NotRun::Inactive("sales.orders".to_owned());
    assert_eq!(inactive.outcome(), RefreshOutcomeKind::Inactive);
    assert!(inactive.recorded());
    let unregistered = NotRun::NotRegistered("sales.orders".to_owned());
    assert_eq!(unregistered.outcome(), RefreshOutcomeKind::Failed);
    assert!(unregistered.recorded());
    for not_recorded in [
        NotRun::ListedTwice,
        NotRun::LeaseUnavailable(unreachable_store()),
    ] {
        assert_eq!(not_recorded.outcome(), RefreshOutcomeKind::Failed);
        assert!(!not_recorded.recorded(), "{not_recorded}");
    }
}
