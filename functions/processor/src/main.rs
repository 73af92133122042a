//! processor Lambda: refreshes each table of one Step Functions Map item (a batch of table ids)
//! and publishes the results to the Glue catalog. Returns a summary per table; only an unusable
//! input fails the invocation.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use tributary_shared::bootstrap::config::ProcessorConfig;
use tributary_shared::bootstrap::{aws, metrics, telemetry};
use tributary_shared::ports::clock::SystemClock;
use tributary_shared::services::processor::{Invocation, InvocationError};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = ProcessorConfig::from_env()?;
    telemetry::init_json_logs(config.log_level);
    let sdk = aws::load_sdk_config(&config.aws).await;
    let processor = &aws::processor(&config, &sdk, Arc::new(SystemClock))?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        let invocation = Invocation::from(&event.context);
        let summary = processor.handle(&event.payload, &invocation).await?;
        metrics::emit(&summary);
        Ok::<_, InvocationError>(summary)
    }))
    .await
}
