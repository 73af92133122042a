//! Unit tests of `processing_tracker`.

use super::*;

#[test]
fn every_outcome_reads_back_from_its_stored_name() {
    for outcome in [
        RefreshOutcomeKind::Completed,
        RefreshOutcomeKind::NoFiles,
        RefreshOutcomeKind::Busy,
        RefreshOutcomeKind::Failed,
        RefreshOutcomeKind::Deferred,
        RefreshOutcomeKind::Inactive,
    ] {
        assert_eq!(
            RefreshOutcomeKind::from_name(outcome.as_str()),
            Some(outcome)
        );
    }
    assert_eq!(RefreshOutcomeKind::from_name("Completed"), None);
}
