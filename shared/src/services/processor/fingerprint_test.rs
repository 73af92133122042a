//! Unit tests of fingerprints: a failure's kind and variant, never its text.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::ports::catalog::CatalogError;
use crate::services::processor::failure::AppliedVersion;
use crate::services::processor::failure::tests::{
    malformed_csv, merge, null_key, unreachable_store,
};
use crate::services::publisher::PublishError;

#[test]
fn a_fingerprint_names_the_kind_and_variant_of_a_failure_not_its_text() {
    let first = merge(null_key("dms/a.csv", 3));
    let again = merge(null_key("dms/a.csv", 9));
    assert_ne!(first.to_string(), again.to_string(), "the texts differ");
    assert_eq!(first.fingerprint(), again.fingerprint());
    assert_eq!(first.fingerprint().as_str(), "merge/null_key");
    let csv = merge(malformed_csv("dms/a.csv", "invalid UTF-8 at byte 4"));
    assert_eq!(csv.fingerprint().as_str(), "merge/bad_file/csv");
    assert_eq!(
        Failure::ProcessorDied.fingerprint().as_str(),
        "file/processor_died"
    );
}

#[test]
fn different_failures_have_different_fingerprints_even_with_one_text() {
    let failures = [
        merge(null_key("dms/a.csv", 3)),
        merge(malformed_csv("dms/a.csv", "x")),
        merge(MergeError::CommitRefused("x".to_owned())),
        Failure::FencedAtCommit(Box::new(MergeError::CommitRefused("x".to_owned()))),
        Failure::ProcessorDied,
        Failure::AppliedVersion(AppliedVersion {
            key: "dms/a.csv".to_owned(),
            applied: "a#v0".to_owned(),
        }),
        Failure::StateStore {
            request: StoreRequest::RecordFailure,
            source: unreachable_store(),
        },
        Failure::StateStore {
            request: StoreRequest::RecordProcessed,
            source: unreachable_store(),
        },
        Failure::Catalog(PublishError::Catalog(CatalogError::Throttled(
            "x".to_owned(),
        ))),
    ];
    let fingerprints: std::collections::HashSet<_> =
        failures.iter().map(Failure::fingerprint).collect();
    assert_eq!(fingerprints.len(), failures.len(), "{fingerprints:?}");
}
