//! Unit tests of the pure decisions of a chunk: which version of a key is applied, and how a
//! failed attempt narrows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::domain::dms_layout::{FileFormat, FileKind};

fn t(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 10, 0, 0).single().unwrap() + Duration::seconds(seconds)
}

fn file(order_key: &str, version: &str, landed: i64, sequencer: Option<&str>) -> BacklogFile {
    BacklogFile {
        id: format!("{order_key}#{version}"),
        bucket: "staging".to_owned(),
        key: format!("dms/sales/orders/{order_key}"),
        size: Some(10),
        kind: FileKind::Cdc,
        format: FileFormat::Csv,
        order_key: order_key.to_owned(),
        landed_at: t(landed),
        status: FileStatus::Landed,
        failures: 0,
        last_error: None,
        last_fingerprint: None,
        etag: Some(version.to_owned()),
        version_id: None,
        sequencer: sequencer.map(str::to_owned),
        attempt: None,
    }
}

fn with_status(file: &BacklogFile, status: FileStatus) -> KeyVersion {
    KeyVersion {
        status,
        ..file.as_version()
    }
}

#[test]
fn only_the_newest_pending_version_of_a_key_is_kept_the_older_is_superseded() {
    let old = file("k1", "e1", 0, None);
    let new = file("k1", "e2", 60, None);
    let other = file("k2", "e3", 30, None);
    let files = [old.clone(), other.clone(), new.clone()];
    let versions: Vec<KeyVersion> = files.iter().map(BacklogFile::as_version).collect();
    let plan = plan_versions(&files, &versions, StorageMode::History);
    assert_eq!(plan.keep, [1, 2]);
    assert_eq!(plan.superseded.len(), 1);
    assert_eq!(plan.superseded[0].file_id, old.id);
    assert!(
        plan.superseded[0].reason.contains(&new.id),
        "{:?}",
        plan.superseded
    );
    assert_eq!(plan.refused, None);
}

#[test]
fn the_sequencer_decides_before_the_landing_time_when_both_versions_have_one() {
    // Landed later but written earlier (a late event): the sequencer says it is the older one.
    let late_event = file("k1", "e1", 120, Some("0065E0C3F6A8B1C2D3"));
    let newer = file("k1", "e2", 60, Some("0065E0C3F6A8B1C2D4"));
    let files = [late_event.clone(), newer.clone()];
    let versions: Vec<KeyVersion> = files.iter().map(BacklogFile::as_version).collect();
    let plan = plan_versions(&files, &versions, StorageMode::Current);
    assert_eq!(plan.keep, [1]);
    assert_eq!(plan.superseded[0].file_id, late_event.id);
}

#[test]
fn a_pending_version_older_than_an_applied_one_is_superseded_in_every_mode() {
    let retried = file("k1", "v1", 0, None);
    let applied = with_status(&file("k1", "v2", 60, None), FileStatus::Processed);
    for mode in [
        StorageMode::Current,
        StorageMode::History,
        StorageMode::Scd2,
    ] {
        let plan = plan_versions(
            std::slice::from_ref(&retried),
            &[retried.as_version(), applied.clone()],
            mode,
        );
        assert!(plan.keep.is_empty(), "{mode:?}");
        assert_eq!(plan.superseded[0].file_id, retried.id, "{mode:?}");
    }
}

#[test]
fn a_new_version_of_an_applied_key_is_refused_in_history_mode_only() {
    let applied = with_status(&file("k1", "v1", 0, None), FileStatus::Processed);
    let before = file("k0", "v9", 0, None);
    let reupload = file("k1", "v2", 60, None);
    let files = [before.clone(), reupload.clone()];
    let versions = [before.as_version(), applied.clone(), reupload.as_version()];
    let plan = plan_versions(&files, &versions, StorageMode::History);
    assert_eq!(plan.keep, [0], "the files before it are still applied");
    let (index, refused) = plan.refused.expect("refused");
    let error = refused.to_string();
    assert_eq!(index, 1);
    assert!(
        error.contains("already applied") && error.contains(&applied.id),
        "{error}"
    );
    for mode in [StorageMode::Current, StorageMode::Scd2] {
        let plan = plan_versions(&files, &versions, mode);
        assert_eq!(
            plan.keep,
            [0, 1],
            "{mode:?}: rows are deduplicated by cdc_order"
        );
    }
}

#[test]
fn a_superseded_version_does_not_supersede_an_older_one() {
    // The newer version's object was deleted (so it was superseded): the older is current again.
    let older = file("k1", "v1", 0, None);
    let gone = with_status(&file("k1", "v2", 60, None), FileStatus::Superseded);
    let plan = plan_versions(
        std::slice::from_ref(&older),
        &[older.as_version(), gone],
        StorageMode::History,
    );
    assert_eq!(plan.keep, [0]);
}

#[test]
fn a_failure_named_after_a_file_keeps_the_files_before_it_and_blames_it() {
    assert_eq!(narrow(6, Cause::File(3)), Some((3, true)));
    assert_eq!(narrow(6, Cause::File(0)), Some((0, true)));
}

#[test]
fn a_failure_naming_no_file_halves_the_attempt_until_one_file_is_left_to_blame() {
    assert_eq!(narrow(6, Cause::Unattributed), Some((3, false)));
    assert_eq!(narrow(3, Cause::Unattributed), Some((2, false)));
    assert_eq!(narrow(2, Cause::Unattributed), Some((1, false)));
    assert_eq!(narrow(1, Cause::Unattributed), Some((0, true)));
}

#[test]
fn transient_table_and_lost_lease_failures_stop_the_chunk_without_blaming_a_file() {
    for cause in [Cause::Transient, Cause::Table, Cause::LeaseLost] {
        assert_eq!(narrow(6, cause), None, "{cause:?}");
    }
}
