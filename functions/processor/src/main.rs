//! processor Lambda: refreshes each table of one Step Functions Map item (a batch of table ids)
//! and publishes the results to the Glue catalog. Returns a summary per table; only an unusable
//! input fails the invocation.

// The refresh is a deep chain of async calls; laying out its future needs more than the default
// query depth (128).
#![recursion_limit = "256"]

use std::sync::Arc;

use chrono::{DateTime, Utc};
use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use serde_json::Value;
use tributary_shared::bootstrap::config::ProcessorConfig;
use tributary_shared::bootstrap::{aws, metrics, telemetry};
use tributary_shared::ports::clock::SystemClock;
use tributary_shared::services::processor::Invocation;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = ProcessorConfig::from_env()?;
    telemetry::init_json_logs(config.log_level);
    let sdk = aws::load_sdk_config(&config.aws).await;
    let processor = &aws::processor(&config, &sdk, Arc::new(SystemClock))?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        let invocation = Invocation {
            deadline: DateTime::<Utc>::from(event.context.deadline()),
            request_id: event.context.request_id,
        };
        let summary = processor
            .handle(&event.payload, &invocation)
            .await
            .map_err(|e| Diagnostic {
                error_type: e.kind().to_owned(),
                error_message: e.to_string(),
            })?;
        metrics::emit(&summary);
        Ok::<_, Diagnostic>(summary)
    }))
    .await
}
