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
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

/// An object key exactly as an event carried it. How it is written depends on the envelope: S3
/// event notifications form-encode keys (`+` for a space, `%XX` escapes; moto also escapes `/`),
/// EventBridge events carry the key as it is. Decoding therefore follows the envelope, never
/// the text: `x+y` is `x y` in a notification and `x+y` in an EventBridge event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKey {
    /// From an S3 event notification (direct, in SQS or in SNS): form-encoded.
    FormEncoded(String),
    /// From an EventBridge event: the key itself.
    Verbatim(String),
}

impl EventKey {
    /// The text as the event carried it (for logs and for what cannot be decoded).
    pub fn as_received(&self) -> &str {
        match self {
            EventKey::FormEncoded(text) | EventKey::Verbatim(text) => text,
        }
    }
}

/// One announced object, exactly as the event described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectCreated {
    /// Bucket name.
    pub bucket: String,
    /// Object key, in the encoding of the event it came in.
    pub key: EventKey,
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

impl ObjectCreated {
    /// The announced object as recorded under `key` (decoded), landed at the event time, else
    /// at `first_seen`.
    pub fn staged(&self, key: String, first_seen: DateTime<Utc>) -> StagedObject {
        let ObjectCreated {
            bucket,
            size,
            etag,
            version_id,
            sequencer,
            event_time,
            ..
        } = self.clone();
        StagedObject {
            bucket,
            key,
            size,
            etag,
            version_id,
            sequencer,
            landed_at: event_time.unwrap_or(first_seen),
        }
    }
}

/// What one S3 record or EventBridge event announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A new object (or a new version of one).
    ObjectCreated(ObjectCreated),
    /// `tributary retry` asks for an object recorded `unregistered` or `unrecognized` to be
    /// examined again, under the file-manager's current configuration.
    Reexamine(ObjectCreated),
    /// One record of a notification could not be read (the others of it still count); the
    /// message is kept for redelivery and, in the end, the dead-letter queue.
    Unreadable(EventError),
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
    /// A re-examination request without the fields it needs.
    #[error("malformed re-examination request: {0}")]
    MalformedReexamination(String),
}

/// Reads a Lambda invocation payload.
pub fn parse_invocation(payload: &Value) -> Result<Invocation, EventError> {
    if first_record_source(payload) == Some("aws:sns") {
        return parse_sns_invocation(payload).map(Invocation::Direct);
    }
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

/// SNS invoking the function directly: each record's message is a document of its own.
fn parse_sns_invocation(payload: &Value) -> Result<Vec<Notice>, EventError> {
    let records = payload
        .get("Records")
        .and_then(Value::as_array)
        .ok_or_else(|| EventError::UnknownShape {
            fields: "an SNS invocation without Records".into(),
        })?;
    Ok(records
        .iter()
        .flat_map(|record| {
            let message = record
                .get("Sns")
                .and_then(|sns| sns.get("Message"))
                .and_then(Value::as_str)
                .ok_or_else(|| EventError::UnknownShape {
                    fields: "an SNS record without Sns.Message".into(),
                });
            let notices = message.and_then(|text| {
                let inner: Value =
                    serde_json::from_str(text).map_err(|e| EventError::NotJson(e.to_string()))?;
                parse_document(&inner, true)
            });
            notices.unwrap_or_else(|e| vec![Notice::Unreadable(e)])
        })
        .collect())
}

fn parse_document(document: &Value, inside_sns: bool) -> Result<Vec<Notice>, EventError> {
    if document.get("Records").is_some() {
        return parse_s3_notification(document);
    }
    if let Some(request) = document.get(REEXAMINE_FIELD) {
        let request = StagedObject::deserialize(request)
            .map_err(|e| EventError::MalformedReexamination(e.to_string()))?;
        return Ok(vec![Notice::Reexamine(request.into_object())]);
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
    records: Vec<Value>,
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
    object: ObjectRef,
}

#[derive(Deserialize)]
struct BucketRef {
    name: String,
}

/// The object of an S3 record (`eTag`, `versionId`) or of an EventBridge detail (`etag`,
/// `version-id`; moto writes `eTag`).
#[derive(Deserialize)]
struct ObjectRef {
    key: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default, rename = "eTag", alias = "etag")]
    etag: Option<String>,
    #[serde(default, rename = "versionId", alias = "version-id")]
    version_id: Option<String>,
    #[serde(default)]
    sequencer: Option<String>,
}

impl ObjectRef {
    fn into_notice(
        self,
        bucket: String,
        key: fn(String) -> EventKey,
        event_time: Option<DateTime<Utc>>,
    ) -> Notice {
        Notice::ObjectCreated(ObjectCreated {
            bucket,
            key: key(self.key),
            size: self.size,
            etag: clean(self.etag),
            version_id: clean(self.version_id),
            sequencer: clean(self.sequencer),
            event_time,
        })
    }
}

/// Every record of a notification; a record that cannot be read is [`Notice::Unreadable`]
/// and does not cost the others.
fn parse_s3_notification(document: &Value) -> Result<Vec<Notice>, EventError> {
    let notification = S3Notification::deserialize(document)
        .map_err(|e| EventError::MalformedS3Notification(e.to_string()))?;
    Ok(notification
        .records
        .iter()
        .enumerate()
        .map(|(index, record)| match S3Record::deserialize(record) {
            Ok(record) => record.into_notice(),
            Err(e) => Notice::Unreadable(EventError::MalformedS3Notification(format!(
                "record {}: {e}",
                index + 1
            ))),
        })
        .collect())
}

impl S3Record {
    fn into_notice(self) -> Notice {
        if !self.event_name.starts_with("ObjectCreated:") {
            return Notice::OtherEvent {
                name: self.event_name,
            };
        }
        let event_time = self.event_time.as_deref().and_then(parse_time_text);
        self.s3
            .object
            .into_notice(self.s3.bucket.name, EventKey::FormEncoded, event_time)
    }
}

/// The field of a re-examination request (`{"tributary_reexamine": {…}}`), the message
/// `tributary retry` sends to the file-events queue.
pub const REEXAMINE_FIELD: &str = "tributary_reexamine";

/// An object version under the staging prefix as the file tracker records it (the key decoded):
/// what an `unrecognized` or `unregistered` record holds, and what `tributary retry` sends back
/// to be examined again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedObject {
    /// Bucket name.
    pub bucket: String,
    /// The decoded key.
    pub key: String,
    /// Size in bytes, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// ETag, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Version id, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// S3 event sequencer, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequencer: Option<String>,
    /// When the object landed.
    pub landed_at: DateTime<Utc>,
}

impl StagedObject {
    /// The message body that asks the file-manager to examine this object again.
    pub fn message_body(&self) -> String {
        serde_json::json!({ REEXAMINE_FIELD: self }).to_string()
    }

    /// The object version as recorded: the version id, else the ETag, else `unidentified` (one
    /// record then stands for every version of the key).
    pub fn object_version(&self) -> &str {
        self.version_id
            .as_deref()
            .or(self.etag.as_deref())
            .unwrap_or("unidentified")
    }

    fn into_object(self) -> ObjectCreated {
        ObjectCreated {
            bucket: self.bucket,
            key: EventKey::Verbatim(self.key),
            size: self.size,
            etag: self.etag,
            version_id: self.version_id,
            sequencer: self.sequencer,
            event_time: Some(self.landed_at),
        }
    }
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
    object: ObjectRef,
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
    let event_time = event.time.and_then(|t| match t {
        EventTime::Text(text) => parse_time_text(&text),
        EventTime::EpochSeconds(seconds) => {
            DateTime::from_timestamp_millis((seconds * 1000.0).round() as i64)
        }
    });
    Ok(event
        .detail
        .object
        .into_notice(event.detail.bucket.name, EventKey::Verbatim, event_time))
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
#[path = "s3_events_test.rs"]
mod tests;
