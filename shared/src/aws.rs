//! Building AWS SDK clients: one shared configuration per process, honouring `AWS_ENDPOINT_URL`,
//! `AWS_REGION`/`AWS_DEFAULT_REGION` and the standard credential chain, so the same code talks to
//! the local emulator and to AWS.

use aws_config::{BehaviorVersion, SdkConfig};

use crate::config::AwsSettings;

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
