//! Harness for Tributary's integration tests: the local AWS emulator (moto server, started by
//! `scripts/with-moto.sh`, which `make test` uses) reached through the real AWS SDK clients.
//!
//! Every test creates its own uniquely named resources, so tests run in parallel against one
//! emulator without seeing each other's data.
//!
//! This crate is test code: a failed setup step should stop the test at once, loudly.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

pub mod citations;
pub mod cli;
pub mod holding_proxy;
pub mod hooked_ports;
pub mod hooked_store;
pub mod iceberg_readers;
pub mod pipeline;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use tributary_shared::adapters::dynamodb_file_tracker::{DynamoDbFileTracker, PENDING_INDEX, attr};
use tributary_shared::adapters::dynamodb_table_registry::DynamoDbTableRegistry;
use tributary_shared::adapters::local_stack::create_bucket;
use tributary_shared::bootstrap::aws;
use tributary_shared::bootstrap::config::AwsSettings;
use tributary_shared::ports::table_registry::RegisteredTable;

/// A tracker item, attribute name → value.
pub type Item = HashMap<String, AttributeValue>;

/// The local AWS emulator, as the test process reaches it.
pub struct LocalAws {
    /// Shared SDK configuration pointing at the emulator.
    pub sdk: SdkConfig,
}

impl LocalAws {
    /// Connects to the emulator named by `AWS_ENDPOINT_URL`. Panics with instructions when it is
    /// not set: these tests must never silently run against real AWS or be skipped.
    pub async fn connect() -> Self {
        let endpoint = std::env::var("AWS_ENDPOINT_URL").ok().filter(|url| {
            url.starts_with("http://127.0.0.1:") || url.starts_with("http://localhost:")
        });
        let Some(endpoint) = endpoint else {
            panic!(
                "integration tests need the local AWS emulator on loopback: run `make test`, or \
                 `scripts/with-moto.sh cargo test -p tributary-tests`"
            );
        };
        let sdk = aws::load_sdk_config(&AwsSettings {
            endpoint_url: Some(endpoint),
        })
        .await;
        Self { sdk }
    }

    /// A DynamoDB client.
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws::dynamodb_client(&self.sdk)
    }

    /// A DynamoDB client whose responses to requests mentioning any of `markers` are replaced by
    /// a `ThrottlingException`, the way DynamoDB answers when a partition is hot. Retries are
    /// kept short so tests stay fast.
    pub fn throttled_dynamodb(&self, markers: &[&str]) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::config::Builder::from(&self.sdk)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(2)
                    .with_initial_backoff(Duration::from_millis(5)),
            )
            .interceptor(ThrottleRequests {
                markers: markers.iter().map(|m| (*m).to_owned()).collect(),
            })
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    /// An S3 client (path-style, as the emulator needs).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        aws::s3_client(&self.sdk)
    }

    /// An SQS client.
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    /// Creates a fresh file-tracker table and returns its name.
    pub async fn new_tracker_table(&self) -> String {
        let name = unique_name("tracker");
        DynamoDbFileTracker::create_table(&self.dynamodb(), &name)
            .await
            .expect("create the tracker table");
        name
    }

    /// A fresh configuration table with `table_ids` registered (active, cadence `10min`).
    pub async fn new_registry(&self, table_ids: &[&str]) -> DynamoDbTableRegistry {
        let name = unique_name("config");
        DynamoDbTableRegistry::create_table(&self.dynamodb(), &name)
            .await
            .expect("create the config table");
        let registry = DynamoDbTableRegistry::new(self.dynamodb(), &name);
        for table_id in table_ids {
            register_table(&registry, table_id, "10min", true).await;
        }
        registry
    }

    /// Every item of a tracker table (a Scan: fine for a test's small table).
    pub async fn tracker_items(&self, table: &str) -> Vec<Item> {
        self.dynamodb()
            .scan()
            .table_name(table)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .expect("scan the tracker table")
    }

    /// The files of `table_id` waiting to be applied, read the way the processor reads them: a
    /// Query of the sparse pending index, in table order.
    pub async fn pending_items(&self, tracker: &str, table_id: &str) -> Vec<Item> {
        self.dynamodb()
            .query()
            .table_name(tracker)
            .index_name(PENDING_INDEX)
            .key_condition_expression("#p = :t")
            .expression_attribute_names("#p", attr::PENDING_TABLE_ID)
            .expression_attribute_values(":t", AttributeValue::S(table_id.to_owned()))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .expect("query the pending index")
    }
}

/// Registers `table_id` with `cadence` (`active` or not) and an empty configuration: enough for
/// the registry's and the batch-manager's reads, which never parse it.
pub async fn register_table(
    registry: &DynamoDbTableRegistry,
    table_id: &str,
    cadence: &str,
    active: bool,
) {
    registry
        .put_table(&RegisteredTable {
            table_id: table_id.to_owned(),
            refresh_cadence: cadence.to_owned(),
            active,
            spec_json: "{}".to_owned(),
        })
        .await
        .expect("register table");
}

/// A name no other test (or test run against the same emulator) uses.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A string attribute of an item (empty when absent).
pub fn string_attr<'a>(item: &'a Item, name: &str) -> &'a str {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .unwrap_or_default()
}

/// Items of `items` whose `key` attribute is `key`.
pub fn items_for_key<'a>(items: &'a [Item], key: &str) -> Vec<&'a Item> {
    items
        .iter()
        .filter(|item| string_attr(item, attr::KEY) == key)
        .collect()
}

/// An S3 event notification for one created object, as S3 sends it (key form-encoded).
pub fn s3_notification(bucket: &str, key: &str, etag: &str, size: u64) -> serde_json::Value {
    serde_json::json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": "2024-03-01T10:15:30.123Z",
            "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:AROAEXAMPLE:dms"},
            "requestParameters": {"sourceIPAddress": "10.0.0.1"},
            "responseElements": {},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "tributary",
                "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
                "object": {"key": form_encode(key), "size": size, "eTag": etag, "sequencer": "0065E0C3F6A8B1C2D3"}
            }
        }]
    })
}

/// An EventBridge "Object Created" event for one object.
pub fn eventbridge_object_created(
    bucket: &str,
    key: &str,
    etag: &str,
    size: u64,
) -> serde_json::Value {
    serde_json::json!({
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2024-03-01T10:15:30Z",
        "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": form_encode(key), "size": size, "etag": etag, "sequencer": "0065E0C3F6A8B1C2D3"},
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "reason": "PutObject"
        }
    })
}

/// An SQS batch event whose messages have the given ids and bodies.
pub fn sqs_batch(messages: &[(&str, String)]) -> serde_json::Value {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|(id, body)| {
            serde_json::json!({
                "messageId": id,
                "receiptHandle": format!("handle-{id}"),
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:file-events",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}

/// Form-encodes a key the way S3 notifications do (space → `+`, reserved bytes → `%XX`).
pub fn form_encode(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b' ' => "+".to_owned(),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' | b'*' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Interceptor replacing the response of matching requests with an HTTP 400 ThrottlingException.
#[derive(Debug)]
struct ThrottleRequests {
    markers: Vec<String>,
}

#[derive(Debug, Clone)]
struct ThrottleThisAttempt;

impl Storable for ThrottleThisAttempt {
    type Storer = StoreReplace<Self>;
}

impl Intercept for ThrottleRequests {
    fn name(&self) -> &'static str {
        "ThrottleRequests"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = context
            .request()
            .body()
            .bytes()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        if self.markers.iter().any(|m| body.contains(m.as_str())) {
            cfg.interceptor_state().store_put(ThrottleThisAttempt);
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<ThrottleThisAttempt>().is_some() {
            let mut response = Response::new(
                StatusCode::try_from(400)?,
                SdkBody::from(
                    r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#,
                ),
            );
            response
                .headers_mut()
                .insert("content-type", "application/x-amz-json-1.0");
            *context.response_mut() = response;
        }
        Ok(())
    }
}

/// A staging bucket whose object-created events reach an SQS queue, as in the deployed stack.
pub struct StagingRoute {
    /// Bucket name.
    pub bucket: String,
    /// Queue URL.
    pub queue_url: String,
}

/// How events reach the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// S3 event notifications straight to SQS.
    S3Notification,
    /// S3 → EventBridge default bus → rule → SQS (the deployed stack's route).
    EventBridge,
}

impl LocalAws {
    /// Creates a staging bucket (versioned, as the stack defines it) and a queue, and routes the
    /// bucket's object-created events to the queue.
    pub async fn staging_route(&self, route: Route) -> StagingRoute {
        let bucket = unique_name("staging");
        create_bucket(&self.s3(), "StagingBucket", &bucket)
            .await
            .expect("create the staging bucket as the stack defines it");
        let sqs = self.sqs();
        let queue_url = sqs
            .create_queue()
            .queue_name(unique_name("file-events"))
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("queue url");
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .cloned()
            })
            .expect("queue arn");
        use aws_sdk_s3::types::{
            Event, EventBridgeConfiguration, NotificationConfiguration, QueueConfiguration,
        };
        let notifications = match route {
            Route::S3Notification => NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .queue_arn(&queue_arn)
                        .events(Event::from("s3:ObjectCreated:*"))
                        .build()
                        .expect("queue configuration"),
                )
                .build(),
            Route::EventBridge => {
                let events = aws_sdk_eventbridge::Client::new(&self.sdk);
                let rule = unique_name("staging-objects");
                let pattern = serde_json::json!({
                    "source": ["aws.s3"],
                    "detail-type": ["Object Created"],
                    "detail": {"bucket": {"name": [bucket]}}
                });
                events
                    .put_rule()
                    .name(&rule)
                    .event_pattern(pattern.to_string())
                    .send()
                    .await
                    .expect("put rule");
                events
                    .put_targets()
                    .rule(&rule)
                    .targets(
                        aws_sdk_eventbridge::types::Target::builder()
                            .id("file-events")
                            .arn(&queue_arn)
                            .build()
                            .expect("target"),
                    )
                    .send()
                    .await
                    .expect("put targets");
                NotificationConfiguration::builder()
                    .event_bridge_configuration(EventBridgeConfiguration::builder().build())
                    .build()
            }
        };
        self.s3()
            .put_bucket_notification_configuration()
            .bucket(&bucket)
            .notification_configuration(notifications)
            .send()
            .await
            .expect("bucket notifications");
        StagingRoute { bucket, queue_url }
    }

    /// Receives up to ten messages (waiting briefly), as the Lambda event source mapping does.
    pub async fn receive_batch(&self, queue_url: &str) -> Vec<aws_sdk_sqs::types::Message> {
        self.sqs()
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive messages")
            .messages
            .unwrap_or_default()
    }

    /// Writes `body` to `key` of `bucket`.
    pub async fn put(&self, bucket: &str, key: &str, body: &[u8]) {
        self.s3()
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body.to_vec().into())
            .send()
            .await
            .expect("put object");
    }

    /// Writes `bodies` one after another to `key` of `bucket`; returns the version ids the
    /// bucket keeps for the key, sorted.
    pub async fn put_versions(&self, bucket: &str, key: &str, bodies: &[&str]) -> Vec<String> {
        for body in bodies {
            self.put(bucket, key, body.as_bytes()).await;
        }
        let mut versions: Vec<String> = self
            .s3()
            .list_object_versions()
            .bucket(bucket)
            .prefix(key)
            .send()
            .await
            .expect("list versions")
            .versions()
            .iter()
            .filter_map(|v| v.version_id().map(str::to_owned))
            .collect();
        versions.sort();
        versions
    }

    /// `(key, version id)` of the objects the EventBridge events queued at `queue_url` announce
    /// ("none" without a version id), sorted; receives until `count` arrived or ten batches
    /// were read.
    pub async fn announced_versions(&self, queue_url: &str, count: usize) -> Vec<(String, String)> {
        let mut announced = Vec::new();
        for _ in 0..10 {
            for message in self.receive_batch(queue_url).await {
                let event: serde_json::Value =
                    serde_json::from_str(message.body().unwrap_or_default())
                        .expect("an EventBridge event");
                let object = &event["detail"]["object"];
                let text = |field: &str| object[field].as_str().unwrap_or("none").to_owned();
                announced.push((text("key"), text("version-id")));
            }
            if announced.len() >= count {
                break;
            }
        }
        announced.sort();
        announced
    }

    /// Deletes received messages, except the ones named in `keep` (what Lambda does with a
    /// partial batch response).
    pub async fn delete_messages(
        &self,
        queue_url: &str,
        messages: &[aws_sdk_sqs::types::Message],
        keep: &[String],
    ) {
        for message in messages {
            if keep
                .iter()
                .any(|k| Some(k.as_str()) == message.message_id())
            {
                continue;
            }
            if let Some(handle) = message.receipt_handle() {
                self.sqs()
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .expect("delete message");
            }
        }
    }
}

/// The SQS Lambda event for messages received through the SQS API.
pub fn sqs_event_from(messages: &[aws_sdk_sqs::types::Message]) -> serde_json::Value {
    let pairs: Vec<(&str, String)> = messages
        .iter()
        .map(|m| {
            (
                m.message_id().unwrap_or_default(),
                m.body().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    sqs_batch(&pairs)
}

/// A Parquet file with one column per `(name, Hive type, values)`, values written as text and
/// cast to the type ("NULL" is null), as a DMS Parquet file would carry them.
pub fn parquet_file(columns: &[(&str, &str, &[&str])]) -> Vec<u8> {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, RecordBatch, StringArray};
    use arrow::datatypes::{Field, Schema};

    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (name, hive_type, values) in columns {
        let data_type =
            tributary_shared::lake::table_config::parse_hive_type(hive_type).expect("a Hive type");
        let text: StringArray = values
            .iter()
            .map(|v| (*v != "NULL").then_some(*v))
            .collect();
        arrays.push(arrow::compute::cast(&text, &data_type).expect("cast test values"));
        fields.push(Field::new(*name, data_type, true));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("a batch");
    let mut out = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None)
        .expect("a Parquet writer");
    writer.write(&batch).expect("write a batch");
    writer.close().expect("close the writer");
    out
}

/// Runs `code` with the project venv's Python (`$VENV`, default `<repo>/.venv`) and returns its
/// stdout; panics with its stderr when it fails.
pub fn python(code: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let venv = std::env::var("VENV").unwrap_or_else(|_| ".venv".to_owned());
    let python = root.join(venv).join("bin/python");
    let output = std::process::Command::new(&python)
        .arg("-c")
        .arg(code)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", python.display()));
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
