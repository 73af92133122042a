//! Unwrapping the events that announce new objects in the staging bucket.
//!
//! The file-manager is invoked with one of:
//! 1. an S3 event notification delivered directly (`{"Records": [{"eventSource": "aws:s3", …}]}`);
//! 2. an SQS batch whose message bodies are S3 event notifications, the `s3:TestEvent` S3 sends when
//!    notifications are configured, SNS envelopes around either, or EventBridge events;
//! 3. an EventBridge "Object Created" event delivered directly.
//!
//! The SQS envelope and the batch response use `aws_lambda_events`. The bodies are read with small
//! tolerant wire types instead of `aws_lambda_events::s3::S3Event` / `EventBridgeEvent`: those
//! require fields that real senders omit (moto's S3 records have no `userIdentity` or
//! `requestParameters`; its EventBridge events carry `time` as epoch seconds and `eTag` instead of
//! `etag`), and a notice must never be lost over a field Tributary does not use.

use aws_lambda_events::event::sqs::SqsEvent;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

/// One announced object, exactly as the event described it (the key is still URL-encoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectCreated {
    /// Bucket name.
    pub bucket: String,
    /// Object key in event encoding (`+` for spaces, `%XX` escapes).
    pub encoded_key: String,
    /// Size in bytes, when the event carried it.
    pub size: Option<u64>,
    /// ETag without quotes, when present.
    pub etag: Option<String>,
    /// Version id on versioned buckets.
    pub version_id: Option<String>,
    /// S3's per-key event sequencer (hex, comparable between events of the same key).
    pub sequencer: Option<String>,
    /// When S3 created the object, if the event said so in a readable form.
    pub event_time: Option<DateTime<Utc>>,
}

/// What one S3 record or EventBridge event announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A new object (or a new version of one).
    ObjectCreated(ObjectCreated),
    /// The `s3:TestEvent` sent when a notification configuration is saved; nothing to do.
    TestEvent,
    /// Another event type (e.g. `ObjectRemoved:Delete`), which the file-manager does not act on.
    OtherEvent {
        /// The event name or EventBridge detail type.
        name: String,
    },
}

/// One SQS message and what its body announced.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedNotices {
    /// The SQS message id, used in the partial batch response.
    pub message_id: String,
    /// The notices, or why the body cannot be read (permanent: the same body always fails).
    pub notices: Result<Vec<Notice>, EventError>,
}

/// A whole Lambda invocation payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// An SQS batch (answered with a partial batch response).
    Queue(Vec<QueuedNotices>),
    /// An S3 notification or EventBridge event delivered directly.
    Direct(Vec<Notice>),
}

/// A payload or message body that cannot be read. Permanent: retrying the same bytes fails again.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EventError {
    /// The text is not JSON.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// JSON of a shape none of the supported events has.
    #[error(
        "not an S3 notification, s3:TestEvent, SNS envelope or EventBridge event (top-level fields: {fields})"
    )]
    UnknownShape {
        /// The top-level field names seen, to help identify the sender.
        fields: String,
    },
    /// An S3 notification whose records lack required fields.
    #[error("malformed S3 event notification: {0}")]
    MalformedS3Notification(String),
    /// An EventBridge event from S3 whose detail lacks required fields.
    #[error("malformed EventBridge S3 event: {0}")]
    MalformedEventBridge(String),
    /// An SQS batch that does not follow the SQS event format.
    #[error("malformed SQS event: {0}")]
    MalformedSqs(String),
    /// An SNS envelope inside an SNS envelope.
    #[error("an SNS envelope nested inside another SNS envelope")]
    NestedEnvelope,
}

/// Reads a Lambda invocation payload.
pub fn parse_invocation(payload: &Value) -> Result<Invocation, EventError> {
    if first_record_source(payload) == Some("aws:sqs") {
        let batch =
            SqsEvent::deserialize(payload).map_err(|e| EventError::MalformedSqs(e.to_string()))?;
        let messages = batch
            .records
            .into_iter()
            .map(|message| QueuedNotices {
                message_id: message.message_id.unwrap_or_default(),
                notices: match message.body {
                    Some(body) => parse_message_body(&body),
                    None => Err(EventError::NotJson("the message has no body".into())),
                },
            })
            .collect();
        return Ok(Invocation::Queue(messages));
    }
    parse_document(payload, false).map(Invocation::Direct)
}

/// Reads one SQS message body.
pub fn parse_message_body(body: &str) -> Result<Vec<Notice>, EventError> {
    let document: Value =
        serde_json::from_str(body).map_err(|e| EventError::NotJson(e.to_string()))?;
    parse_document(&document, false)
}

fn first_record_source(payload: &Value) -> Option<&str> {
    let record = payload.get("Records")?.as_array()?.first()?;
    record
        .get("eventSource")
        .or_else(|| record.get("EventSource"))?
        .as_str()
}

fn parse_document(document: &Value, inside_sns: bool) -> Result<Vec<Notice>, EventError> {
    if document.get("Records").is_some() {
        return parse_s3_notification(document);
    }
    if document.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(vec![Notice::TestEvent]);
    }
    if document.get("Type").and_then(Value::as_str) == Some("Notification") {
        if inside_sns {
            return Err(EventError::NestedEnvelope);
        }
        let message = document
            .get("Message")
            .and_then(Value::as_str)
            .ok_or_else(|| EventError::UnknownShape {
                fields: "an SNS envelope without a Message".into(),
            })?;
        let inner: Value =
            serde_json::from_str(message).map_err(|e| EventError::NotJson(e.to_string()))?;
        return parse_document(&inner, true);
    }
    if document.get("detail-type").is_some() {
        return parse_eventbridge(document).map(|notice| vec![notice]);
    }
    Err(EventError::UnknownShape {
        fields: match document.as_object() {
            Some(object) => object.keys().cloned().collect::<Vec<_>>().join(", "),
            None => "none: not a JSON object".into(),
        },
    })
}

#[derive(Deserialize)]
struct S3Notification {
    #[serde(rename = "Records")]
    records: Vec<S3Record>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct S3Record {
    event_name: String,
    #[serde(default)]
    event_time: Option<String>,
    s3: S3Entity,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: BucketRef,
    object: S3ObjectRef,
}

#[derive(Deserialize)]
struct BucketRef {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct S3ObjectRef {
    key: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default, rename = "eTag", alias = "etag")]
    etag: Option<String>,
    #[serde(default)]
    version_id: Option<String>,
    #[serde(default)]
    sequencer: Option<String>,
}

fn parse_s3_notification(document: &Value) -> Result<Vec<Notice>, EventError> {
    let notification = S3Notification::deserialize(document)
        .map_err(|e| EventError::MalformedS3Notification(e.to_string()))?;
    Ok(notification
        .records
        .into_iter()
        .map(|record| {
            if !record.event_name.starts_with("ObjectCreated:") {
                return Notice::OtherEvent {
                    name: record.event_name,
                };
            }
            let object = record.s3.object;
            Notice::ObjectCreated(ObjectCreated {
                bucket: record.s3.bucket.name,
                encoded_key: object.key,
                size: object.size,
                etag: clean(object.etag),
                version_id: clean(object.version_id),
                sequencer: clean(object.sequencer),
                event_time: record.event_time.as_deref().and_then(parse_time_text),
            })
        })
        .collect())
}

#[derive(Deserialize)]
struct EventBridgeS3Event {
    #[serde(default)]
    time: Option<EventTime>,
    detail: EventBridgeDetail,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum EventTime {
    Text(String),
    EpochSeconds(f64),
}

#[derive(Deserialize)]
struct EventBridgeDetail {
    bucket: BucketRef,
    object: EventBridgeObjectRef,
}

#[derive(Deserialize)]
struct EventBridgeObjectRef {
    key: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default, alias = "eTag")]
    etag: Option<String>,
    #[serde(default, rename = "version-id")]
    version_id: Option<String>,
    #[serde(default)]
    sequencer: Option<String>,
}

fn parse_eventbridge(document: &Value) -> Result<Notice, EventError> {
    let source = document.get("source").and_then(Value::as_str);
    if source != Some("aws.s3") {
        return Err(EventError::UnknownShape {
            fields: format!(
                "an EventBridge event from `{}`, not aws.s3",
                source.unwrap_or("?")
            ),
        });
    }
    let detail_type = document.get("detail-type").and_then(Value::as_str);
    if detail_type != Some("Object Created") {
        return Ok(Notice::OtherEvent {
            name: detail_type.unwrap_or("?").to_owned(),
        });
    }
    let event = EventBridgeS3Event::deserialize(document)
        .map_err(|e| EventError::MalformedEventBridge(e.to_string()))?;
    let object = event.detail.object;
    Ok(Notice::ObjectCreated(ObjectCreated {
        bucket: event.detail.bucket.name,
        encoded_key: object.key,
        size: object.size,
        etag: clean(object.etag),
        version_id: clean(object.version_id),
        sequencer: clean(object.sequencer),
        event_time: event.time.and_then(|t| match t {
            EventTime::Text(text) => parse_time_text(&text),
            EventTime::EpochSeconds(seconds) => {
                DateTime::from_timestamp_millis((seconds * 1000.0).round() as i64)
            }
        }),
    }))
}

/// Drops quotes around ETags and treats empty or `"null"` values as absent.
fn clean(value: Option<String>) -> Option<String> {
    let value = value?;
    let trimmed = value.trim_matches('"');
    (!trimmed.is_empty() && trimmed != "null").then(|| trimmed.to_owned())
}

/// RFC 3339, or the zone-less ISO form some emulators write (read as UTC).
fn parse_time_text(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|naive| Utc.from_utc_datetime(&naive))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let text = match name {
            "s3-object-created" => include_str!("../../events/s3-object-created.json"),
            "sqs-s3-notification" => include_str!("../../events/sqs-s3-notification.json"),
            "sqs-s3-test-event" => include_str!("../../events/sqs-s3-test-event.json"),
            "sqs-sns-s3-notification" => include_str!("../../events/sqs-sns-s3-notification.json"),
            "sqs-eventbridge-object-created" => {
                include_str!("../../events/sqs-eventbridge-object-created.json")
            }
            "eventbridge-object-created" => {
                include_str!("../../events/eventbridge-object-created.json")
            }
            "sqs-moto-s3-notification" => {
                include_str!("../../events/sqs-moto-s3-notification.json")
            }
            "eventbridge-moto-object-created" => {
                include_str!("../../events/eventbridge-moto-object-created.json")
            }
            "sqs-mixed-batch" => include_str!("../../events/sqs-mixed-batch.json"),
            other => panic!("no fixture {other}"),
        };
        serde_json::from_str(text).expect("fixture is JSON")
    }

    fn created(notice: &Notice) -> &ObjectCreated {
        match notice {
            Notice::ObjectCreated(object) => object,
            other => panic!("expected an object-created notice, got {other:?}"),
        }
    }

    fn direct(name: &str) -> Vec<Notice> {
        match parse_invocation(&fixture(name)) {
            Ok(Invocation::Direct(notices)) => notices,
            other => panic!("{name}: expected a direct invocation, got {other:?}"),
        }
    }

    fn queued(name: &str) -> Vec<QueuedNotices> {
        match parse_invocation(&fixture(name)) {
            Ok(Invocation::Queue(messages)) => messages,
            other => panic!("{name}: expected an SQS batch, got {other:?}"),
        }
    }

    fn single_queued_notices(name: &str) -> Vec<Notice> {
        let mut messages = queued(name);
        assert_eq!(messages.len(), 1, "{name}");
        messages
            .remove(0)
            .notices
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn direct_s3_notification_yields_every_record() {
        let notices = direct("s3-object-created");
        assert_eq!(notices.len(), 2);
        let first = created(&notices[0]);
        assert_eq!(first.bucket, "acme-dms-staging");
        assert_eq!(first.encoded_key, "dms/sales/orders/LOAD00000001.csv");
        assert_eq!(first.size, Some(5_242_880));
        assert_eq!(
            first.etag.as_deref(),
            Some("d41d8cd98f00b204e9800998ecf8427e")
        );
        assert_eq!(first.version_id, None);
        assert_eq!(
            first.event_time.map(|t| t.to_rfc3339()),
            Some("2024-03-01T10:15:30.123+00:00".to_owned())
        );
        let second = created(&notices[1]);
        assert_eq!(
            second.encoded_key,
            "dms/sales/order+lines/20240301-101530123.csv.gz"
        );
        assert_eq!(
            second.version_id.as_deref(),
            Some("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")
        );
    }

    #[test]
    fn sqs_wrapped_s3_notification_keeps_the_message_id() {
        let messages = queued("sqs-s3-notification");
        assert_eq!(
            messages[0].message_id,
            "4f8e2a4c-1d7b-4c8e-9b0a-2f6d3e1a5b01"
        );
        let notices = single_queued_notices("sqs-s3-notification");
        assert_eq!(
            created(&notices[0]).encoded_key,
            "dms/sales/orders/20240301-101530123.parquet"
        );
    }

    #[test]
    fn s3_test_event_is_a_no_op_notice() {
        assert_eq!(
            single_queued_notices("sqs-s3-test-event"),
            vec![Notice::TestEvent]
        );
    }

    #[test]
    fn sns_envelope_is_unwrapped() {
        let notices = single_queued_notices("sqs-sns-s3-notification");
        assert_eq!(
            created(&notices[0]).encoded_key,
            "dms/hr/people/2024/03/01/20240301-101530123.csv"
        );
    }

    #[test]
    fn eventbridge_event_through_sqs_and_direct() {
        let via_queue = single_queued_notices("sqs-eventbridge-object-created");
        let object = created(&via_queue[0]);
        assert_eq!(
            object.encoded_key,
            "dms/sales/customers/20240301-101530123.parquet"
        );
        assert_eq!(
            object.etag.as_deref(),
            Some("591785b794601e212b260e25925636fd")
        );
        assert_eq!(
            object.version_id.as_deref(),
            Some("Ej2nS7vC1xk3eF4gH5iJ6kL7mN8oP9qR")
        );
        let notices = direct("eventbridge-object-created");
        let object = created(&notices[0]);
        assert_eq!(
            object.encoded_key,
            "dms/sales/customers/LOAD00000002.parquet"
        );
        assert_eq!(object.size, Some(1_048_576));
        assert_eq!(
            object.event_time.map(|t| t.to_rfc3339()),
            Some("2024-03-01T10:15:30+00:00".to_owned())
        );
    }

    #[test]
    fn moto_quirks_are_tolerated() {
        let notices = single_queued_notices("sqs-moto-s3-notification");
        let object = created(&notices[0]);
        assert_eq!(
            object.encoded_key,
            "dms%2Fsales%2Forder+lines%2FLOAD00000001.csv"
        );
        assert_eq!(object.sequencer, None);
        let notices = direct("eventbridge-moto-object-created");
        let object = created(&notices[0]);
        assert_eq!(
            object.etag.as_deref(),
            Some("92eb5ffee6ae2fec3ad71c777531578f")
        );
        assert_eq!(object.version_id, None, "a JSON null version id is absent");
        assert_eq!(
            object.event_time.map(|t| t.timestamp_millis()),
            Some(1_709_288_130_123)
        );
    }

    #[test]
    fn mixed_batch_reads_each_message_on_its_own() {
        let messages = queued("sqs-mixed-batch");
        let by_id = |id: &str| {
            messages
                .iter()
                .find(|m| m.message_id == id)
                .unwrap_or_else(|| panic!("no message {id}"))
                .notices
                .clone()
        };
        assert!(matches!(
            by_id("msg-good-load").as_deref(),
            Ok([Notice::ObjectCreated(_)])
        ));
        assert_eq!(by_id("msg-test-event"), Ok(vec![Notice::TestEvent]));
        assert!(matches!(by_id("msg-not-json"), Err(EventError::NotJson(_))));
        assert!(matches!(
            by_id("msg-unknown-shape"),
            Err(EventError::UnknownShape { ref fields }) if fields == "hello"
        ));
        assert_eq!(
            by_id("msg-removed"),
            Ok(vec![Notice::OtherEvent {
                name: "ObjectRemoved:Delete".into()
            }])
        );
        assert_eq!(messages.len(), 9);
    }

    #[test]
    fn etags_lose_their_quotes() {
        let body = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k","eTag":"\"abc\""}}}]}"#;
        let notices = parse_message_body(body).expect("valid");
        assert_eq!(created(&notices[0]).etag.as_deref(), Some("abc"));
    }

    #[test]
    fn unreadable_payloads_say_what_is_wrong() {
        assert!(matches!(
            parse_message_body(r#"{"Records":[{"eventName":"ObjectCreated:Put"}]}"#),
            Err(EventError::MalformedS3Notification(_))
        ));
        assert!(matches!(
            parse_message_body(r#"{"detail-type":"Object Created","source":"aws.s3","detail":{}}"#),
            Err(EventError::MalformedEventBridge(_))
        ));
        assert!(matches!(
            parse_message_body(
                r#"{"detail-type":"EC2 Instance State-change","source":"aws.ec2","detail":{}}"#
            ),
            Err(EventError::UnknownShape { .. })
        ));
        assert_eq!(
            parse_message_body(r#"{"detail-type":"Object Deleted","source":"aws.s3","detail":{}}"#),
            Ok(vec![Notice::OtherEvent {
                name: "Object Deleted".into()
            }])
        );
        let nested = serde_json::json!({
            "Type": "Notification",
            "Message": serde_json::json!({"Type": "Notification", "Message": "{}"}).to_string()
        });
        assert_eq!(
            parse_message_body(&nested.to_string()),
            Err(EventError::NestedEnvelope)
        );
        assert!(matches!(
            parse_message_body("[1,2]"),
            Err(EventError::UnknownShape { .. })
        ));
        assert!(matches!(
            parse_invocation(&serde_json::json!({"foo": 1})),
            Err(EventError::UnknownShape { .. })
        ));
    }
}
