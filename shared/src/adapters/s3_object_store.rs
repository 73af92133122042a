//! `object_store` on S3 with the process's SDK configuration.
//!
//! The lake and the staging bucket are read and written through `object_store` (what the Parquet
//! reader and writer use), with the credentials, region and endpoint of the one [`SdkConfig`] the
//! SDK clients are built from; nothing here reads the environment.
//!
//! Conditional put stays on S3's `If-None-Match`/`If-Match` ([`S3ConditionalPut::ETagMatch`]):
//! the lake's commit point is a create-only put ([`object_store::PutMode::Create`]).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use object_store::aws::{AmazonS3Builder, AwsCredential, S3ConditionalPut};
use object_store::{CredentialProvider, Error, ObjectStore};
use tokio::sync::Mutex;

/// How errors name this store.
const STORE: &str = "S3";

/// The region when the configuration names none.
const DEFAULT_REGION: &str = "us-east-1";

/// Credentials are fetched again this long before they expire.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// An `object_store` for `bucket` signing its requests with `sdk`'s credentials provider, in
/// `sdk`'s region (`us-east-1` when it names none). With a custom endpoint (an emulator), buckets
/// are addressed in the path and plain HTTP is allowed when the endpoint uses it.
pub fn s3_object_store(sdk: &SdkConfig, bucket: &str) -> Result<Arc<dyn ObjectStore>, Error> {
    let provider = sdk.credentials_provider().ok_or_else(|| Error::Generic {
        store: STORE,
        source: "the AWS SDK configuration has no credentials provider".into(),
    })?;
    let region = sdk.region().map_or(DEFAULT_REGION, |r| r.as_ref());
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(region)
        .with_credentials(Arc::new(SdkCredentials::new(provider)))
        .with_conditional_put(S3ConditionalPut::ETagMatch);
    if let Some(url) = sdk.endpoint_url() {
        builder = builder
            .with_endpoint(url)
            .with_virtual_hosted_style_request(false)
            .with_allow_http(url.starts_with("http://"));
    }
    Ok(Arc::new(builder.build()?))
}

/// The SDK's credentials provider as an `object_store` one, caching what it returns until
/// [`REFRESH_BEFORE_EXPIRY`] before it expires (forever when it does not expire). The lock is held
/// during a refresh, so concurrent requests wait for one fetch instead of each starting their own.
#[derive(Debug)]
struct SdkCredentials {
    provider: SharedCredentialsProvider,
    cached: Mutex<Option<CachedCredential>>,
}

#[derive(Debug)]
struct CachedCredential {
    credential: Arc<AwsCredential>,
    /// When to fetch again; `None` for credentials that do not expire.
    refresh_at: Option<SystemTime>,
}

impl CachedCredential {
    fn new(credentials: &Credentials) -> Self {
        Self {
            credential: Arc::new(AwsCredential {
                key_id: credentials.access_key_id().to_owned(),
                secret_key: credentials.secret_access_key().to_owned(),
                token: credentials.session_token().map(str::to_owned),
            }),
            refresh_at: credentials.expiry().map(|expiry| {
                expiry
                    .checked_sub(REFRESH_BEFORE_EXPIRY)
                    .unwrap_or(SystemTime::UNIX_EPOCH)
            }),
        }
    }

    fn is_fresh(&self, now: SystemTime) -> bool {
        self.refresh_at.is_none_or(|refresh_at| now < refresh_at)
    }
}

impl SdkCredentials {
    fn new(provider: SharedCredentialsProvider) -> Self {
        Self {
            provider,
            cached: Mutex::new(None),
        }
    }
}

#[async_trait]
impl CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let mut cached = self.cached.lock().await;
        if let Some(current) = cached
            .as_ref()
            .filter(|current| current.is_fresh(SystemTime::now()))
        {
            return Ok(Arc::clone(&current.credential));
        }
        let credentials =
            self.provider
                .provide_credentials()
                .await
                .map_err(|e| Error::Generic {
                    store: STORE,
                    source: Box::new(e),
                })?;
        let fresh = CachedCredential::new(&credentials);
        let credential = Arc::clone(&fresh.credential);
        *cached = Some(fresh);
        Ok(credential)
    }
}

#[cfg(test)]
#[path = "s3_object_store_test.rs"]
mod tests;
