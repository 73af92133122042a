//! The Lambda runtime's view of the services: one [`Diagnostic`] per function error type (its
//! `error_type` is the error's kind, which the state machine's Retry/Catch rules match, and its
//! message the error's text), and the processor's [`Invocation`] from a request's context.
//!
//! With these, a handler returns the service's own error and the runtime converts it.

use std::fmt::Display;

use chrono::{DateTime, Utc};
use lambda_runtime::{Context, Diagnostic};

use crate::services::batch_manager::PlanError;
use crate::services::file_manager::FileManagerError;
use crate::services::processor::{Invocation, InvocationError};

impl From<PlanError> for Diagnostic {
    fn from(error: PlanError) -> Self {
        diagnostic(error.kind(), &error)
    }
}

impl From<FileManagerError> for Diagnostic {
    fn from(error: FileManagerError) -> Self {
        diagnostic(error.kind(), &error)
    }
}

impl From<InvocationError> for Diagnostic {
    fn from(error: InvocationError) -> Self {
        diagnostic(error.kind(), &error)
    }
}

/// The diagnostic of an error of kind `kind`.
fn diagnostic(kind: &str, error: &dyn Display) -> Diagnostic {
    Diagnostic {
        error_type: kind.to_owned(),
        error_message: error.to_string(),
    }
}

impl From<&Context> for Invocation {
    /// The request id owns the invocation's leases; the deadline is when Lambda stops it.
    fn from(context: &Context) -> Self {
        Invocation {
            request_id: context.request_id.clone(),
            deadline: DateTime::<Utc>::from(context.deadline()),
        }
    }
}

#[cfg(test)]
#[path = "lambda_test.rs"]
mod tests;
