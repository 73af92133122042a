//! Unit tests of the history table.

use chrono::{Duration, TimeZone};

use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
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
