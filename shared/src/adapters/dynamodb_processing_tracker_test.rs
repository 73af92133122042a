//! Unit tests of `dynamodb_processing_tracker`: how a cancelled fenced transaction is reported
//! (the emulator cannot produce every cancellation reason).

use super::*;

const STORE: &str = "the file tracker";

fn lease() -> Lease {
    Lease {
        table_id: "sales.orders".to_owned(),
        owner: "owner-a".to_owned(),
        token: 4,
        expires_at: DateTime::UNIX_EPOCH,
    }
}

fn reasons(codes: &[&str]) -> Vec<CancellationReason> {
    codes
        .iter()
        .map(|code| {
            CancellationReason::builder()
                .code(*code)
                .message(format!("because {code}"))
                .build()
        })
        .collect()
}

#[test]
fn a_failed_lease_check_means_the_lease_was_lost() {
    let error = cancelled_error(
        STORE,
        &lease(),
        &reasons(&["ConditionalCheckFailed", "None", "ConditionalCheckFailed"]),
    );
    assert_eq!(
        error,
        StoreError::LeaseLost {
            table_id: "sales.orders".to_owned(),
            token: 4,
        }
    );
}

#[test]
fn a_failed_file_condition_is_refused_naming_the_item() {
    let error = cancelled_error(
        STORE,
        &lease(),
        &reasons(&["None", "None", "ConditionalCheckFailed"]),
    );
    let StoreError::Refused { store, message, .. } = &error else {
        panic!("expected a refusal, got {error:?}");
    };
    assert_eq!(*store, STORE);
    assert_eq!(
        message,
        "item 2: ConditionalCheckFailed because ConditionalCheckFailed"
    );
    assert!(!error.is_retryable());
}

#[test]
fn a_conflicting_transaction_may_be_retried() {
    let error = cancelled_error(STORE, &lease(), &reasons(&["None", "TransactionConflict"]));
    assert!(
        matches!(error, StoreError::Throttled { .. }),
        "got {error:?}"
    );
    assert!(error.is_retryable());
}
