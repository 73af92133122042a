//! Unit tests of `adapters::s3_object_store`.

use std::sync::atomic::{AtomicUsize, Ordering};

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::future;

use super::*;

/// Hands out credentials expiring at `expiry`, numbering them by call.
#[derive(Debug)]
struct Counting {
    calls: Arc<AtomicUsize>,
    expiry: Option<SystemTime>,
    fail: bool,
}

impl ProvideCredentials for Counting {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        future::ProvideCredentials::ready(if self.fail {
            Err(CredentialsError::not_loaded("no credentials here"))
        } else {
            Ok(Credentials::new(
                format!("key-{call}"),
                "secret",
                Some("token".to_owned()),
                self.expiry,
                "counting",
            ))
        })
    }
}

fn bridge(expiry: Option<SystemTime>, fail: bool) -> (SdkCredentials, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let provider = SharedCredentialsProvider::new(Counting {
        calls: Arc::clone(&calls),
        expiry,
        fail,
    });
    (SdkCredentials::new(provider), calls)
}

#[tokio::test]
async fn credentials_far_from_expiry_are_fetched_once() {
    let (bridge, calls) = bridge(Some(SystemTime::now() + Duration::from_secs(3600)), false);
    let first = bridge.get_credential().await.expect("credential");
    let second = bridge.get_credential().await.expect("credential");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(first.key_id, "key-1");
    assert_eq!(second.key_id, "key-1");
    assert_eq!(first.secret_key, "secret");
    assert_eq!(first.token.as_deref(), Some("token"));
}

#[tokio::test]
async fn credentials_without_expiry_are_fetched_once() {
    let (bridge, calls) = bridge(None, false);
    bridge.get_credential().await.expect("credential");
    bridge.get_credential().await.expect("credential");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn credentials_within_five_minutes_of_expiry_are_fetched_again() {
    let (bridge, calls) = bridge(Some(SystemTime::now() + Duration::from_secs(240)), false);
    bridge.get_credential().await.expect("credential");
    let second = bridge.get_credential().await.expect("credential");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(second.key_id, "key-2");
}

#[tokio::test]
async fn a_provider_failure_is_a_generic_store_error() {
    let (bridge, _) = bridge(None, true);
    let error = bridge.get_credential().await.expect_err("no credentials");
    assert!(
        matches!(error, Error::Generic { store: STORE, .. }),
        "{error:?}"
    );
}

#[test]
fn a_configuration_without_credentials_is_refused() {
    let sdk = SdkConfig::builder().build();
    let error = s3_object_store(&sdk, "lake").expect_err("no credentials provider");
    assert!(
        error.to_string().contains("no credentials provider"),
        "{error}"
    );
}
