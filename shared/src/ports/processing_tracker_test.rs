//! Unit tests of `processing_tracker`.

use super::*;

#[test]
fn every_outcome_reads_back_from_its_stored_name() {
    for outcome in RefreshOutcomeKind::ALL {
        assert_eq!(
            RefreshOutcomeKind::from_name(outcome.as_str()),
            Some(outcome)
        );
    }
    assert_eq!(RefreshOutcomeKind::from_name("Completed"), None);
}
