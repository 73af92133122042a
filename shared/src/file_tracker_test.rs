//! Unit tests of `file_tracker`.

use super::*;
use crate::dms_layout::StagingLayout;

fn object(etag: Option<&str>, version: Option<&str>) -> ObjectCreated {
    ObjectCreated {
        bucket: "staging".into(),
        key: crate::s3_events::EventKey::FormEncoded("s/t/LOAD00000001.csv".into()),
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
    assert!(landed(&object(None, None)).is_err());
}

#[test]
fn landed_at_falls_back_to_first_seen() {
    let file = landed(&object(Some("e"), None)).expect("identifiable");
    assert_eq!(file.landed_at, DateTime::UNIX_EPOCH);
}
