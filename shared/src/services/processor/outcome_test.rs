//! Unit tests of the outcome rules: what a table's summary and history items, the run's next
//! step and a failing file come to from what happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::TimeZone;

use super::*;
use crate::domain::dms_layout::{FileFormat, FileKind};
use crate::ports::file_tracker::FileStatus;

fn t(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 10, 0, 0).unwrap() + chrono::Duration::seconds(seconds)
}

fn summary() -> TableSummary {
    TableSummary::new("sales.orders", RefreshOutcomeKind::NoFiles)
}

fn applied(files: &[&str]) -> Done {
    Done {
        totals: RefreshTotals {
            files: files.len() as u64,
            inserted: 5,
            ..RefreshTotals::default()
        },
        files: files.iter().map(|f| (*f).to_owned()).collect(),
        ..Done::default()
    }
}

fn failed_step() -> ChunkError {
    ChunkError::Step(Failure::ProcessorDied)
}

fn file(failures: u32, last: Option<&str>) -> BacklogFile {
    BacklogFile {
        id: "k1#v1".to_owned(),
        bucket: "staging".to_owned(),
        key: "dms/sales/orders/k1.csv".to_owned(),
        size: Some(10),
        kind: FileKind::Cdc,
        format: FileFormat::Csv,
        order_key: "k1".to_owned(),
        landed_at: t(0),
        status: FileStatus::Landed,
        failures,
        last_error: last.map(|_| "some earlier text".to_owned()),
        last_fingerprint: last.map(FailureFingerprint::new),
        etag: Some("v1".to_owned()),
        version_id: None,
        sequencer: None,
        attempt: None,
    }
}

fn null_key() -> FailureFingerprint {
    FailureFingerprint::new("merge/null_key")
}

#[test]
fn the_first_chunk_finding_nothing_is_no_files_and_a_later_one_completed() {
    let mut first = summary();
    assert_eq!(
        add_chunk(&mut first, &Done::default(), None, false),
        RefreshOutcomeKind::NoFiles
    );
    assert_eq!(first.outcome, RefreshOutcomeKind::NoFiles);
    let mut later = summary();
    assert_eq!(
        add_chunk(&mut later, &Done::default(), None, true),
        RefreshOutcomeKind::Completed
    );
}

#[test]
fn a_chunk_that_applied_files_is_completed_and_counted_as_a_refresh() {
    let mut table = summary();
    let outcome = add_chunk(&mut table, &applied(&["k1#v1", "k2#v1"]), None, false);
    assert_eq!(outcome, RefreshOutcomeKind::Completed);
    assert_eq!((table.refreshes, table.totals.files), (1, 2));
    assert_eq!(table.totals.inserted, 5);
    assert!(!table.more_pending);
    assert_eq!(table.error, None);
}

#[test]
fn a_chunk_that_only_set_a_quarantined_file_aside_is_completed_not_no_files() {
    let mut table = summary();
    let end = Chunk::SkippedBadFile {
        done: Done::default(),
        key: "dms/k1.csv".to_owned(),
    }
    .end(&mut table);
    assert!(end.moved, "setting a file aside moves the backlog");
    let outcome = add_chunk(&mut table, &end.done, None, false);
    assert_eq!(outcome, RefreshOutcomeKind::Completed);
    assert_eq!(table.quarantined, ["dms/k1.csv"]);
    assert_eq!(table.refreshes, 0, "nothing was applied");
}

#[test]
fn a_failed_chunk_fails_the_table_with_its_error_and_leaves_files_pending() {
    let mut table = summary();
    let outcome = add_chunk(
        &mut table,
        &applied(&["k1#v1"]),
        Some(&failed_step()),
        false,
    );
    assert_eq!(outcome, RefreshOutcomeKind::Failed);
    assert_eq!(table.outcome, RefreshOutcomeKind::Failed);
    assert!(table.more_pending);
    assert_eq!(table.error, Some(Failure::ProcessorDied.to_string()));
    assert_eq!(
        table.refreshes, 1,
        "the files before the failure were applied"
    );
}

#[test]
fn only_a_completed_chunk_that_moved_the_backlog_lets_the_table_go_on() {
    assert_eq!(
        after_chunk(RefreshOutcomeKind::Completed, true),
        Next::Chunk
    );
    assert_eq!(
        after_chunk(RefreshOutcomeKind::Completed, false),
        Next::StopMorePending
    );
    for outcome in [RefreshOutcomeKind::NoFiles, RefreshOutcomeKind::Failed] {
        for moved in [false, true] {
            assert_eq!(after_chunk(outcome, moved), Next::Stop, "{outcome:?}");
        }
    }
}

#[test]
fn a_lost_lease_makes_the_table_busy_not_failed_with_the_reason_and_what_was_done() {
    let mut table = summary();
    table.more_pending = true;
    let error = Failure::StateStore {
        request: super::super::failure::StoreRequest::RecordProcessed,
        source: crate::ports::state_store::StoreError::LeaseLost {
            table_id: "sales.orders".to_owned(),
            token: 3,
        },
    };
    let lost = lost_table(table, &applied(&["k1#v1"]), &error);
    assert_eq!(lost.outcome, RefreshOutcomeKind::Busy);
    assert!(!lost.more_pending, "the new holder does the rest");
    assert_eq!(lost.totals.files, 1);
    let reason = lost.error.unwrap_or_default();
    assert!(
        reason.starts_with("lost the table to another processor: recording the processed files failed: the lease on sales.orders"),
        "{reason}"
    );
}

#[test]
fn a_busy_or_inactive_table_has_no_error_a_table_listed_twice_fails() {
    let busy = NotRun::Busy {
        owner: "req-2".to_owned(),
        expires_at: t(900),
    };
    let summary = not_run_summary("sales.orders", &busy);
    assert_eq!(
        (summary.outcome, summary.error),
        (RefreshOutcomeKind::Busy, None)
    );
    let inactive = not_run_summary("sales.orders", &NotRun::Inactive("sales.orders".to_owned()));
    assert_eq!(
        (inactive.outcome, inactive.error),
        (RefreshOutcomeKind::Inactive, None)
    );
    let twice = not_run_summary("sales.orders", &NotRun::ListedTwice);
    assert_eq!(twice.outcome, RefreshOutcomeKind::Failed);
    assert_eq!(
        twice.error.as_deref(),
        Some("listed twice in one batch; it was refreshed once")
    );
}

#[test]
fn no_table_or_chunk_starts_with_less_than_the_needed_time_left() {
    let deadline = t(600);
    let needed = Duration::from_secs(60);
    assert!(!too_late(t(540), deadline, needed), "exactly enough");
    assert!(too_late(t(541), deadline, needed));
    assert!(too_late(t(700), deadline, needed), "past the deadline");
    assert!(!too_late(t(0), deadline, needed));
}

#[test]
fn the_same_failure_again_counts_one_more_and_quarantines_at_the_limit() {
    let count = count_failure(
        &file(1, Some("merge/null_key")),
        &null_key(),
        3,
        OnBadFile::Stop,
    );
    assert_eq!(
        count,
        FailureCount {
            failures: 2,
            quarantined: false,
            skipped: false
        }
    );
    let count = count_failure(
        &file(2, Some("merge/null_key")),
        &null_key(),
        3,
        OnBadFile::Stop,
    );
    assert_eq!(
        count,
        FailureCount {
            failures: 3,
            quarantined: true,
            skipped: false
        }
    );
    let count = count_failure(
        &file(2, Some("merge/null_key")),
        &null_key(),
        3,
        OnBadFile::Skip,
    );
    assert!(count.quarantined && count.skipped);
}

#[test]
fn another_failure_or_one_recorded_without_a_fingerprint_counts_from_one() {
    for earlier in [Some("merge/bad_file/csv"), None] {
        let count = count_failure(&file(2, earlier), &null_key(), 3, OnBadFile::Stop);
        assert_eq!(count.failures, 1, "{earlier:?}");
        assert!(!count.quarantined);
    }
}

#[test]
fn a_counted_failure_sets_the_file_aside_or_stops_the_table_at_it() {
    let bad = file(0, None);
    let count = |failures, quarantined, skipped| FailureCount {
        failures,
        quarantined,
        skipped,
    };
    let skipped = failure_chunk(
        &bad,
        Failure::ProcessorDied,
        count(3, true, true),
        3,
        applied(&["k0#v1"]),
    );
    assert!(
        matches!(&skipped, Chunk::SkippedBadFile { done, key } if done.files == ["k0#v1"] && *key == bad.key),
        "{skipped:?}"
    );
    let stopped = failure_chunk(
        &bad,
        Failure::ProcessorDied,
        count(3, true, false),
        3,
        Done::default(),
    );
    assert!(
        matches!(&stopped, Chunk::Failed { error: ChunkError::Quarantined { failures: 3, .. }, quarantined: Some(key), .. } if *key == bad.key),
        "{stopped:?}"
    );
    let counted = failure_chunk(
        &bad,
        Failure::ProcessorDied,
        count(1, false, false),
        3,
        Done::default(),
    );
    assert!(
        matches!(
            &counted,
            Chunk::Failed {
                error: ChunkError::Counted {
                    failures: 1,
                    quarantine_after: 3,
                    ..
                },
                quarantined: None,
                ..
            }
        ),
        "{counted:?}"
    );
}

#[test]
fn a_summary_lists_at_most_twenty_quarantined_files() {
    let mut table = summary();
    for n in 0..25 {
        Chunk::SkippedBadFile {
            done: Done::default(),
            key: format!("dms/k{n}.csv"),
        }
        .end(&mut table);
    }
    assert_eq!(table.quarantined.len(), MAX_LISTED_QUARANTINED);
    assert_eq!(table.quarantined[19], "dms/k19.csv");
}

#[test]
fn short_text_is_not_truncated() {
    for text in ["", "access denied", &"é".repeat(MAX_ERROR_CHARS)] {
        assert_eq!(truncate(text), text);
    }
}

#[test]
fn long_text_is_cut_at_the_character_limit_on_a_character_boundary() {
    // Two-, three- and four-byte characters: a cut by bytes would split one (and panic).
    let text = "aé€😀".repeat(MAX_ERROR_CHARS);
    let cut = truncate(&text);
    let kept: String = text.chars().take(MAX_ERROR_CHARS).collect();
    assert_eq!(cut, format!("{kept}…"));
    assert_eq!(cut.chars().count(), MAX_ERROR_CHARS + 1);

    let one_over = "x".repeat(MAX_ERROR_CHARS + 1);
    assert_eq!(
        truncate(&one_over),
        format!("{}…", &one_over[..MAX_ERROR_CHARS])
    );
}
