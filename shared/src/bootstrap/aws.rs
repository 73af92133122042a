//! Building AWS SDK clients: one shared configuration per process, honouring `AWS_ENDPOINT_URL`,
//! `AWS_REGION`/`AWS_DEFAULT_REGION` and the standard credential chain, so the same code talks to
//! the local emulator and to AWS.

use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};

use crate::adapters::dynamodb_file_tracker::DynamoDbFileTracker;
use crate::adapters::dynamodb_processing_tracker::DynamoDbProcessingTracker;
use crate::adapters::dynamodb_table_registry::DynamoDbTableRegistry;
use crate::adapters::glue_catalog::GlueCatalog;
use crate::adapters::s3_object_store::s3_object_store;
use crate::bootstrap::config::{
    AwsSettings, BatchManagerConfig, FileManagerConfig, ProcessorConfig,
};
use crate::lake::refresh::LakeStores;
use crate::ports::clock::Clock;
use crate::services::batch_manager::BatchManager;
use crate::services::file_manager::FileManager;
use crate::services::processor::Processor;

/// Loads the SDK configuration once; build every client from the result.
pub async fn load_sdk_config(settings: &AwsSettings) -> SdkConfig {
    let loader = aws_config::defaults(BehaviorVersion::latest());
    match &settings.endpoint_url {
        Some(url) => loader.endpoint_url(url).load().await,
        None => loader.load().await,
    }
}

/// A DynamoDB client.
pub fn dynamodb_client(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// An S3 client. With a custom endpoint (an emulator on `127.0.0.1`), buckets are addressed in the
/// path (`http://host/bucket/key`) because virtual-host names do not resolve there.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let builder =
        aws_sdk_s3::config::Builder::from(config).force_path_style(config.endpoint_url().is_some());
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// A Glue (Data Catalog) client.
pub fn glue_client(config: &SdkConfig) -> aws_sdk_glue::Client {
    aws_sdk_glue::Client::new(config)
}

/// The processor wired to AWS: DynamoDB registry, processing tracker and file tracker, the Glue
/// catalog, and the staging and lake buckets through object_store.
pub type AwsProcessor =
    Processor<DynamoDbTableRegistry, DynamoDbProcessingTracker, DynamoDbFileTracker, GlueCatalog>;

/// Builds the processor from its configuration and one SDK configuration; `clock` is the
/// system clock except in tests.
pub fn processor(
    config: &ProcessorConfig,
    sdk: &SdkConfig,
    clock: Arc<dyn Clock>,
) -> Result<AwsProcessor, object_store::Error> {
    let dynamodb = dynamodb_client(sdk);
    let stores = LakeStores {
        staging: s3_object_store(sdk, &config.staging_bucket)?,
        lake: s3_object_store(sdk, &config.lake_bucket)?,
    };
    let ports = (
        DynamoDbTableRegistry::new(dynamodb.clone(), &config.config_table),
        DynamoDbProcessingTracker::new(dynamodb.clone(), &config.processing_table),
        DynamoDbFileTracker::new(dynamodb, &config.file_tracker_table)
            .with_lease_table(&config.processing_table),
        GlueCatalog::new(glue_client(sdk)),
    );
    Ok(Processor::new(
        config.settings.clone(),
        stores,
        ports,
        clock,
    ))
}

/// The file-manager wired to AWS: the DynamoDB file tracker (records) and table registry (which
/// tables are registered).
pub type AwsFileManager = FileManager<DynamoDbFileTracker, DynamoDbTableRegistry>;

/// Builds the file-manager from its configuration and one SDK configuration.
pub fn file_manager(config: &FileManagerConfig, sdk: &SdkConfig) -> AwsFileManager {
    let dynamodb = dynamodb_client(sdk);
    FileManager::new(
        config.layout.clone(),
        DynamoDbFileTracker::new(dynamodb.clone(), &config.file_tracker_table),
        DynamoDbTableRegistry::new(dynamodb, &config.config_table),
        config.write_concurrency,
    )
}

/// The batch-manager wired to AWS: the DynamoDB registry (cadences and tables), file tracker
/// (backlogs) and processing tracker (last outcomes).
pub type AwsBatchManager =
    BatchManager<DynamoDbTableRegistry, DynamoDbFileTracker, DynamoDbProcessingTracker>;

/// Builds the batch-manager from its configuration and one SDK configuration.
pub fn batch_manager(config: &BatchManagerConfig, sdk: &SdkConfig) -> AwsBatchManager {
    let dynamodb = dynamodb_client(sdk);
    BatchManager::new(
        DynamoDbTableRegistry::new(dynamodb.clone(), &config.config_table),
        DynamoDbFileTracker::new(dynamodb.clone(), &config.file_tracker_table),
        DynamoDbProcessingTracker::new(dynamodb, &config.processing_table),
        config.lookup_concurrency,
    )
}
