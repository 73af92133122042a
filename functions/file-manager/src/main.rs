//! file-manager Lambda: records each DMS file landing in the staging bucket, once, in the file
//! tracker. Invoked by SQS (S3 or EventBridge events), S3 directly, or EventBridge directly.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use tributary_shared::bootstrap::config::FileManagerConfig;
use tributary_shared::bootstrap::{aws, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = FileManagerConfig::from_env()?;
    telemetry::init_json_logs(config.log_level);
    let sdk = aws::load_sdk_config(&config.aws).await;
    let manager = &aws::file_manager(&config, &sdk);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        manager
            .handle(&event.payload)
            .await
            .map(|handled| handled.response)
    }))
    .await
}
