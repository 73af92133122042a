//! Unit tests of `file_tracker`.

use super::*;
use crate::domain::dms_layout::StagingLayout;

fn object(etag: Option<&str>, version: Option<&str>) -> ObjectCreated {
    ObjectCreated {
        bucket: "staging".into(),
        key: crate::domain::s3_events::EventKey::FormEncoded("s/t/LOAD00000001.csv".into()),
        size: Some(10),
        etag: etag.map(str::to_owned),
        version_id: version.map(str::to_owned),
        sequencer: None,
        event_time: None,
    }
}

fn landed(object: &ObjectCreated) -> Result<LandedFile, UntrackableFile> {
    let key = ObjectKey::from_event(&object.key).expect("valid key");
    let file = StagingLayout::new("staging", "", None)
        .expect("valid layout")
        .classify("staging", &key)
        .expect("a DMS file");
    LandedFile::new(object, key, file, DateTime::UNIX_EPOCH)
}

#[test]
fn object_version_prefers_the_version_id_over_the_etag() {
    let file = landed(&object(Some("etag"), Some("v1"))).expect("identifiable");
    assert_eq!(file.object_version(), "v1");
    let file = landed(&object(Some("etag"), None)).expect("identifiable");
    assert_eq!(file.object_version(), "etag");
}

#[test]
fn an_object_without_etag_or_version_is_refused() {
    assert_eq!(landed(&object(None, None)), Err(UntrackableFile::NoVersion));
}

#[test]
fn landed_at_falls_back_to_first_seen() {
    let file = landed(&object(Some("e"), None)).expect("identifiable");
    assert_eq!(file.landed_at, DateTime::UNIX_EPOCH);
}

fn version(sequencer: Option<&str>, landed_seconds: i64, id: &str) -> KeyVersion {
    KeyVersion {
        id: id.to_owned(),
        order_key: "k".to_owned(),
        status: FileStatus::Landed,
        sequencer: sequencer.map(str::to_owned),
        landed_at: DateTime::UNIX_EPOCH + chrono::Duration::seconds(landed_seconds),
    }
}

#[test]
fn sequencers_decide_which_version_is_newer_left_padded_to_equal_length() {
    // A shorter sequencer is a smaller number once left-padded, even if it sorts higher as text.
    let short = version(Some("FF"), 100, "k#a");
    let long = version(Some("0100"), 0, "k#b");
    assert!(long.is_newer_than(&short));
    assert!(!short.is_newer_than(&long));
}

#[test]
fn without_two_sequencers_the_later_landing_is_newer_then_the_id_breaks_ties() {
    let early = version(Some("99"), 0, "k#a");
    let late = version(None, 60, "k#b");
    assert!(late.is_newer_than(&early));
    let twin = version(None, 0, "k#c");
    let same_time = version(None, 0, "k#d");
    assert!(same_time.is_newer_than(&twin) != twin.is_newer_than(&same_time));
}
