//! Unit tests of `object_key`.

use super::*;

fn decode(encoded: &str) -> Result<String, KeyRejection> {
    ObjectKey::from_event_encoding(encoded).map(|k| k.as_str().to_owned())
}

#[test]
fn plus_is_a_space_and_escapes_are_decoded() {
    assert_eq!(
        decode("dms/my+schema/t%C3%A9st/LOAD00000001.csv"),
        Ok("dms/my schema/tést/LOAD00000001.csv".to_owned())
    );
}

#[test]
fn form_encoded_slashes_from_moto_are_decoded() {
    assert_eq!(
        decode("dms%2Fsales%2Forders%2FLOAD00000001.csv"),
        Ok("dms/sales/orders/LOAD00000001.csv".to_owned())
    );
}

#[test]
fn an_encoded_plus_stays_a_plus() {
    assert_eq!(decode("a/b%2Bc.csv"), Ok("a/b+c.csv".to_owned()));
}

#[test]
fn bad_keys_are_rejected_with_a_reason() {
    let cases = [
        ("", KeyRejection::Empty),
        ("a/%zz.csv", KeyRejection::InvalidEscape { position: 2 }),
        ("a/b%2", KeyRejection::InvalidEscape { position: 3 }),
        ("a/%FF.csv", KeyRejection::NotUtf8),
        (
            "a/b%0Ac.csv",
            KeyRejection::ControlCharacter {
                code: 0x0A,
                position: 3,
            },
        ),
        (
            "a/b%7F",
            KeyRejection::ControlCharacter {
                code: 0x7F,
                position: 3,
            },
        ),
        ("/a/b.csv", KeyRejection::LeadingSlash),
        ("a//b.csv", KeyRejection::EmptySegment),
        (
            "dms/../secret/LOAD00000001.csv",
            KeyRejection::RelativeSegment {
                segment: "..".into(),
            },
        ),
        (
            "dms/%2E%2E/x.csv",
            KeyRejection::RelativeSegment {
                segment: "..".into(),
            },
        ),
        (
            "dms/./x.csv",
            KeyRejection::RelativeSegment {
                segment: ".".into(),
            },
        ),
    ];
    for (encoded, expected) in cases {
        assert_eq!(decode(encoded), Err(expected), "key {encoded:?}");
    }
}

#[test]
fn overlong_keys_are_rejected() {
    let key = "a".repeat(MAX_KEY_BYTES + 1);
    assert_eq!(
        decode(&key),
        Err(KeyRejection::TooLong {
            length: MAX_KEY_BYTES + 1
        })
    );
}

#[test]
fn folder_markers_are_valid_keys_and_recognised() {
    let key = ObjectKey::from_event_encoding("dms/sales/").expect("valid");
    assert!(key.is_folder_marker());
    assert!(
        !ObjectKey::from_event_encoding("dms/sales/x.csv")
            .expect("valid")
            .is_folder_marker()
    );
}
