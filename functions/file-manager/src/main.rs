//! file-manager Lambda: records each DMS file landing in the staging bucket, once, in the file
//! tracker. Invoked by SQS (S3 or EventBridge events), S3 directly, or EventBridge directly.

use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use serde_json::Value;
use tributary_shared::adapters::dynamodb_file_tracker::DynamoDbFileTracker;
use tributary_shared::adapters::dynamodb_table_registry::DynamoDbTableRegistry;
use tributary_shared::bootstrap::config::FileManagerConfig;
use tributary_shared::bootstrap::{aws, telemetry};
use tributary_shared::services::file_manager::FileManager;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = FileManagerConfig::from_env()?;
    telemetry::init_json_logs(config.log_level);
    let sdk = aws::load_sdk_config(&config.aws).await;
    let dynamodb = aws::dynamodb_client(&sdk);
    let tracker = DynamoDbFileTracker::new(dynamodb.clone(), &config.file_tracker_table);
    let registry = DynamoDbTableRegistry::new(dynamodb, &config.config_table);
    let manager = &FileManager::new(config.layout, tracker, registry, config.write_concurrency);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        manager
            .handle(&event.payload)
            .await
            .map(|handled| handled.response)
            .map_err(|e| Diagnostic {
                error_type: e.kind().to_owned(),
                error_message: e.to_string(),
            })
    }))
    .await
}
