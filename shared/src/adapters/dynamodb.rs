//! What the DynamoDB adapters share: mapping SDK errors to [`StoreError`].

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::state_store::StoreError;

/// DynamoDB error codes that mean "slow down".
const THROTTLING_CODES: [&str; 3] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
];

/// Maps an SDK error of a request to `store` to the port's error kinds.
pub fn store_error<E, R>(store: &'static str, error: &SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("Unknown").to_owned();
            let message = service.err().message().unwrap_or_default().to_owned();
            if THROTTLING_CODES.contains(&code.as_str()) {
                StoreError::Throttled {
                    store,
                    detail: format!("{code}: {message}"),
                }
            } else {
                StoreError::Refused {
                    store,
                    code,
                    message,
                }
            }
        }
        other => StoreError::Unreachable {
            store,
            detail: DisplayErrorContext(other).to_string(),
        },
    }
}
