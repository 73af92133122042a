//! Unit tests of the health verdict.

use chrono::{Duration, TimeZone};

use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
}

fn backlog_landed(seconds_ago: i64) -> BacklogSummary {
    BacklogSummary {
        files: 2,
        bytes: 100,
        quarantined: 0,
        oldest_landed_at: Some(now() - Duration::seconds(seconds_ago)),
    }
}

fn thresholds() -> Thresholds {
    Thresholds {
        lag_seconds: 3600,
        busy_after_seconds: 300,
    }
}

/// A lease taken `acquired_ago` seconds ago, lapsing in `expires_in` seconds, whose holder
/// recorded its last refresh `progress_ago` seconds ago (if ever).
fn lease(acquired_ago: i64, expires_in: i64, progress_ago: Option<i64>) -> LeaseStatus {
    let acquired_at = now() - Duration::seconds(acquired_ago);
    LeaseStatus {
        holder: "local-4242-1700000000000-0".to_owned(),
        acquired_at: Some(acquired_at),
        expires_at: Some(now() + Duration::seconds(expires_in)),
        lapsed: expires_in <= 0,
        last_progress_at: Some(
            progress_ago.map_or(acquired_at, |ago| now() - Duration::seconds(ago)),
        ),
    }
}

fn last(outcome: RefreshOutcomeKind, error: Option<&str>) -> LastRefresh {
    LastRefresh {
        outcome,
        finished_at: now(),
        totals: RefreshTotals::default(),
        error: error.map(str::to_owned),
    }
}

#[test]
fn a_table_with_a_small_backlog_and_a_completed_refresh_is_healthy() {
    let completed = last(RefreshOutcomeKind::Completed, None);
    let (health, reasons) = judge(
        true,
        &backlog_landed(60),
        0,
        Some(&completed),
        None,
        now(),
        thresholds(),
    );
    assert_eq!(health, Health::Healthy);
    assert!(reasons.is_empty());
}

#[test]
fn an_inactive_table_is_inactive_whatever_its_state() {
    let failed = last(RefreshOutcomeKind::Failed, Some("boom"));
    let (health, _) = judge(
        false,
        &backlog_landed(99_999),
        3,
        Some(&failed),
        None,
        now(),
        thresholds(),
    );
    assert_eq!(health, Health::Inactive);
    assert!(!health.needs_attention());
}

#[test]
fn an_old_pending_file_makes_a_table_lagging() {
    let (health, reasons) = judge(
        true,
        &backlog_landed(7200),
        0,
        None,
        None,
        now(),
        thresholds(),
    );
    assert_eq!(health, Health::Lagging);
    assert!(reasons[0].contains("7200 s"), "{reasons:?}");
}

#[test]
fn a_failed_last_refresh_makes_a_table_failing_and_names_the_error() {
    let failed = last(RefreshOutcomeKind::Failed, Some("access denied"));
    let (health, reasons) = judge(
        true,
        &backlog_landed(10),
        0,
        Some(&failed),
        None,
        now(),
        thresholds(),
    );
    assert_eq!(health, Health::Failing);
    assert!(reasons[0].contains("access denied"));
}

#[test]
fn quarantined_files_come_first_and_every_reason_is_listed() {
    let failed = last(RefreshOutcomeKind::Failed, Some("bad file"));
    let (health, reasons) = judge(
        true,
        &backlog_landed(7200),
        1,
        Some(&failed),
        None,
        now(),
        thresholds(),
    );
    assert_eq!(health, Health::Quarantined);
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons[0].contains("tributary retry"));
}

#[test]
fn a_held_lease_whose_holder_shows_progress_is_a_refresh_in_flight_and_does_not_page() {
    let completed = last(RefreshOutcomeKind::Completed, None);
    for in_flight in [lease(60, 800, None), lease(700, 200, Some(120))] {
        let (health, reasons) = judge(
            true,
            &backlog_landed(60),
            0,
            Some(&completed),
            Some(&in_flight),
            now(),
            thresholds(),
        );
        assert_eq!(health, Health::Healthy, "{in_flight:?}: {reasons:?}");
    }
}

#[test]
fn a_lease_held_without_progress_past_the_threshold_with_files_pending_is_busy() {
    let crashed = lease(600, 330, None);
    let (health, reasons) = judge(
        true,
        &backlog_landed(600),
        0,
        None,
        Some(&crashed),
        now(),
        thresholds(),
    );
    assert_eq!(health, Health::Busy);
    assert!(
        health.needs_attention(),
        "a table stuck behind a crashed holder pages"
    );
    assert!(
        reasons[0].contains("local-4242-1700000000000-0")
            && reasons[0].contains("2026-11-21T12:05:30")
            && reasons[0].contains("2 file(s) pending")
            && reasons[0].contains("600 s"),
        "names the holder, the expiry, the backlog and the silence: {reasons:?}"
    );
}

#[test]
fn a_held_lease_blocks_nothing_without_pending_files_and_a_lapsed_one_never() {
    let empty = BacklogSummary {
        files: 0,
        bytes: 0,
        quarantined: 0,
        oldest_landed_at: None,
    };
    let silent = lease(600, 330, None);
    let (health, _) = judge(true, &empty, 0, None, Some(&silent), now(), thresholds());
    assert_eq!(health, Health::Healthy, "nothing waits for the holder");
    let lapsed = lease(1200, -10, None);
    let (health, _) = judge(
        true,
        &backlog_landed(600),
        0,
        None,
        Some(&lapsed),
        now(),
        thresholds(),
    );
    assert_eq!(
        health,
        Health::Healthy,
        "the next run takes a lapsed lease over"
    );
}
