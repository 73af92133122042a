//! Unit tests of `s3_events`.

use super::*;

fn fixture(name: &str) -> Value {
    let text = match name {
        "s3-object-created" => include_str!("../../../events/s3-object-created.json"),
        "sqs-s3-notification" => include_str!("../../../events/sqs-s3-notification.json"),
        "sqs-s3-test-event" => include_str!("../../../events/sqs-s3-test-event.json"),
        "sqs-sns-s3-notification" => include_str!("../../../events/sqs-sns-s3-notification.json"),
        "sqs-eventbridge-object-created" => {
            include_str!("../../../events/sqs-eventbridge-object-created.json")
        }
        "eventbridge-object-created" => {
            include_str!("../../../events/eventbridge-object-created.json")
        }
        "sqs-moto-s3-notification" => {
            include_str!("../../../events/sqs-moto-s3-notification.json")
        }
        "eventbridge-moto-object-created" => {
            include_str!("../../../events/eventbridge-moto-object-created.json")
        }
        "sqs-mixed-batch" => include_str!("../../../events/sqs-mixed-batch.json"),
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
    assert_eq!(
        first.key,
        EventKey::FormEncoded("dms/sales/orders/LOAD00000001.csv".into())
    );
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
        second.key,
        EventKey::FormEncoded("dms/sales/order+lines/20240301-101530123.csv.gz".into())
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
        created(&notices[0]).key,
        EventKey::FormEncoded("dms/sales/orders/20240301-101530123.parquet".into())
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
        created(&notices[0]).key,
        EventKey::FormEncoded("dms/hr/people/2024/03/01/20240301-101530123.csv".into())
    );
}

#[test]
fn eventbridge_event_through_sqs_and_direct() {
    let via_queue = single_queued_notices("sqs-eventbridge-object-created");
    let object = created(&via_queue[0]);
    assert_eq!(
        object.key,
        EventKey::Verbatim("dms/sales/customers/20240301-101530123.parquet".into())
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
        object.key,
        EventKey::Verbatim("dms/sales/customers/LOAD00000002.parquet".into())
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
        object.key,
        EventKey::FormEncoded("dms%2Fsales%2Forder+lines%2FLOAD00000001.csv".into())
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
        parse_message_body(r#"{"Records":[{"eventName":"ObjectCreated:Put"}]}"#).as_deref(),
        Ok([Notice::Unreadable(EventError::MalformedS3Notification(_))])
    ));
    assert!(matches!(
        parse_message_body(r#"{"Records":"none"}"#),
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
