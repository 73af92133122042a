//! Unit tests of `lambda`: each function error becomes a diagnostic of its kind, and a request's
//! context becomes the processor's invocation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use super::*;
use crate::domain::s3_events::EventError;
use crate::ports::state_store::StoreError;

#[test]
fn a_plan_error_is_a_diagnostic_of_its_kind_and_message() {
    let error = PlanError::Store(StoreError::Unreachable {
        store: "the config table",
        detail: "connection reset".to_owned(),
    });
    let message = error.to_string();
    let diagnostic = Diagnostic::from(error);
    assert_eq!(diagnostic.error_type, "StoreUnavailable");
    assert_eq!(diagnostic.error_message, message);
}

#[test]
fn a_file_manager_error_is_a_diagnostic_of_its_kind_and_message() {
    let error = FileManagerError::UnsupportedPayload(EventError::NotJson("x".to_owned()));
    let message = error.to_string();
    let diagnostic = Diagnostic::from(error);
    assert_eq!(diagnostic.error_type, "UnsupportedPayload");
    assert_eq!(diagnostic.error_message, message);
}

#[test]
fn a_processor_invocation_error_is_a_diagnostic_of_its_kind_and_message() {
    let error = InvocationError::BadInput("missing field `tables`".to_owned());
    let message = error.to_string();
    let diagnostic = Diagnostic::from(error);
    assert_eq!(diagnostic.error_type, "BadInput");
    assert_eq!(diagnostic.error_message, message);
}

#[test]
fn the_invocation_is_owned_by_the_request_and_ends_at_its_deadline() {
    let mut context = Context::default();
    context.request_id = "req-1".to_owned();
    context.deadline = 1_709_287_200_000;
    let invocation = Invocation::from(&context);
    assert_eq!(invocation.request_id, "req-1");
    let deadline = SystemTime::UNIX_EPOCH + Duration::from_millis(1_709_287_200_000);
    assert_eq!(invocation.deadline, DateTime::<Utc>::from(deadline));
}
