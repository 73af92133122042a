//! batch-manager Lambda: the first state of the refresh state machine. Plans one run of a cadence
//! — its active tables with work, in batches of table ids for the Map state. An unknown cadence or
//! unusable batch settings fail the invocation, and with it the execution.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use tributary_shared::bootstrap::config::BatchManagerConfig;
use tributary_shared::bootstrap::{aws, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = BatchManagerConfig::from_env()?;
    telemetry::init_json_logs(config.log_level);
    let sdk = aws::load_sdk_config(&config.aws).await;
    let manager = &aws::batch_manager(&config, &sdk);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        manager.plan(&event.payload).await
    }))
    .await
}
