//! processor Lambda. Its behaviour is not built yet: every invocation fails with a `NotImplemented`
//! error so a deployed state machine can never mistake it for a successful run.

use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use serde_json::Value;
use tributary_shared::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json_logs(tracing::Level::INFO);
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Err::<Value, _>(Diagnostic {
            error_type: "NotImplemented".to_owned(),
            error_message: "the processor is not implemented yet".to_owned(),
        })
    }))
    .await
}
