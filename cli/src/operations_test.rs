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
    let (health, reasons) = judge(true, &backlog_landed(60), 0, Some(&completed), now(), 3600);
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
        now(),
        3600,
    );
    assert_eq!(health, Health::Inactive);
    assert!(!health.needs_attention());
}

#[test]
fn an_old_pending_file_makes_a_table_lagging() {
    let (health, reasons) = judge(true, &backlog_landed(7200), 0, None, now(), 3600);
    assert_eq!(health, Health::Lagging);
    assert!(reasons[0].contains("7200 s"), "{reasons:?}");
}

#[test]
fn a_failed_last_refresh_makes_a_table_failing_and_names_the_error() {
    let failed = last(RefreshOutcomeKind::Failed, Some("access denied"));
    let (health, reasons) = judge(true, &backlog_landed(10), 0, Some(&failed), now(), 3600);
    assert_eq!(health, Health::Failing);
    assert!(reasons[0].contains("access denied"));
}

#[test]
fn quarantined_files_come_first_and_every_reason_is_listed() {
    let failed = last(RefreshOutcomeKind::Failed, Some("bad file"));
    let (health, reasons) = judge(true, &backlog_landed(7200), 1, Some(&failed), now(), 3600);
    assert_eq!(health, Health::Quarantined);
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons[0].contains("tributary retry"));
}

#[test]
fn history_shows_superseded_changes_and_files_apart_from_ignored() {
    let row = HistoryRow {
        refresh_id: "r1".to_owned(),
        owner: "request-1".to_owned(),
        started_at: now(),
        finished_at: now() + Duration::milliseconds(1_500),
        outcome: RefreshOutcomeKind::Completed,
        totals: RefreshTotals {
            files: 3,
            inserted: 10,
            ignored: 2,
            superseded: 7,
            files_superseded: 1,
            ..RefreshTotals::default()
        },
        error: None,
        snapshot_version: Some(4),
    };
    let text = history_text(std::slice::from_ref(&row));
    let lines: Vec<&str> = text.lines().collect();
    // The cell under a column title starts where the title starts.
    let column = |title: &str| {
        let start = lines[0].find(title).unwrap();
        lines[1][start..].split_whitespace().next().unwrap()
    };
    assert_eq!(column("ignored"), "2");
    assert_eq!(column(" superseded"), "7", "{text}");
    assert_eq!(column("files superseded"), "1", "{text}");
    let json = serde_json::to_value(&row).unwrap();
    assert_eq!(json["superseded"], 7);
    assert_eq!(json["files_superseded"], 1);
    assert_eq!(json["ignored"], 2);
}
