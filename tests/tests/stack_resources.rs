//! The stack's resources created on the local AWS emulator from the template's own definitions
//! (docs/DESIGN.md §12): what the local environment and the test harness run on is what the
//! stack deploys.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a failed step stops the test

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;
use tributary_shared::adapters::dynamodb_file_tracker::{DynamoDbFileTracker, PENDING_INDEX};
use tributary_shared::adapters::local_stack::{
    SetupError, create_bucket, create_queue, create_state_machine, state_machine_definition,
};
use tributary_shared::bootstrap::stack_template::{Reference, StackTemplate};
use tributary_tests::{LocalAws, Route, unique_name};

const QUEUE: &str = "FileEventsQueue";
const DEAD_LETTER_QUEUE: &str = "FileEventsDeadLetterQueue";
const STATE_MACHINE: &str = "RefreshStateMachine";

/// A local ARN for each alias the definition refers to.
fn local_arn(reference: &Reference) -> Option<String> {
    match reference {
        Reference::Ref(alias) => Some(format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{alias}:live"
        )),
        Reference::GetAtt(..) => None,
    }
}

#[tokio::test]
async fn the_file_tracker_from_the_template_has_its_pending_index_and_ttl() {
    let aws = LocalAws::connect().await;
    let name = aws.new_tracker_table().await;
    let dynamodb = aws.dynamodb();
    let table = dynamodb
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .expect("describe")
        .table
        .expect("a table");
    let indexes: Vec<String> = table
        .global_secondary_indexes()
        .iter()
        .filter_map(|i| i.index_name().map(str::to_owned))
        .collect();
    assert_eq!(indexes, vec![PENDING_INDEX.to_owned()]);
    let ttl = dynamodb
        .describe_time_to_live()
        .table_name(&name)
        .send()
        .await
        .expect("describe TTL")
        .time_to_live_description
        .and_then(|d| d.attribute_name);
    assert_eq!(ttl.as_deref(), Some("expires_at"));
    // Creating it again leaves it as it is.
    DynamoDbFileTracker::create_table(&dynamodb, &name)
        .await
        .expect("an existing table is fine");
}

#[tokio::test]
async fn the_event_queue_from_the_template_redrives_to_its_dead_letter_queue() {
    let aws = LocalAws::connect().await;
    let sqs = aws.sqs();
    let dead_letters = create_queue(&sqs, DEAD_LETTER_QUEUE, &unique_name("dlq"), None)
        .await
        .expect("create the dead-letter queue");
    let dead_letter_arn = sqs
        .get_queue_attributes()
        .queue_url(&dead_letters)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("dead-letter queue attributes")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("an ARN");

    let missing_arn = create_queue(&sqs, QUEUE, &unique_name("events"), None).await;
    assert!(
        matches!(&missing_arn, Err(SetupError::Definition { problem, .. }) if problem.contains(DEAD_LETTER_QUEUE)),
        "{missing_arn:?}"
    );

    let queue = create_queue(&sqs, QUEUE, &unique_name("events"), Some(&dead_letter_arn))
        .await
        .expect("create the event queue");
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .unwrap_or_default();
    let template = StackTemplate::bundled().expect("template");
    let spec = template.queue(QUEUE).expect("queue spec");
    let file_manager_timeout = template
        .function("FileManagerFunction")
        .expect("file-manager")
        .timeout
        .expect("a timeout");
    let visibility: u64 = attributes
        .get(&QueueAttributeName::VisibilityTimeout)
        .and_then(|v| v.parse().ok())
        .expect("a visibility timeout");
    assert_eq!(Some(visibility), spec.visibility_timeout);
    assert!(
        visibility >= 6 * file_manager_timeout,
        "visibility {visibility} s < 6 × the file-manager's {file_manager_timeout} s"
    );
    let redrive: Value = attributes
        .get(&QueueAttributeName::RedrivePolicy)
        .and_then(|v| serde_json::from_str(v).ok())
        .expect("a redrive policy");
    assert_eq!(redrive["deadLetterTargetArn"], dead_letter_arn.as_str());
    assert_eq!(
        redrive["maxReceiveCount"].as_u64(),
        spec.redrive.map(|(_, count)| count)
    );
}

#[tokio::test]
async fn the_state_machine_from_the_template_is_created_with_its_aliases_substituted() {
    let aws = LocalAws::connect().await;
    let sfn = aws_sdk_sfn::Client::new(&aws.sdk);
    let arn = create_state_machine(
        &sfn,
        STATE_MACHINE,
        &unique_name("refresh"),
        "arn:aws:iam::123456789012:role/local-states",
        local_arn,
    )
    .await
    .expect("create the state machine");
    let described = sfn
        .describe_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .expect("describe");
    let definition: Value =
        serde_json::from_str(described.definition()).expect("the stored definition is JSON");
    let plan_function = &definition["States"]["PlanBatches"]["Parameters"]["FunctionName"];
    assert_eq!(
        plan_function,
        "arn:aws:lambda:us-east-1:123456789012:function:BatchManagerAlias:live"
    );
    assert!(!described.definition().contains("${"));

    let unresolved = state_machine_definition(STATE_MACHINE, |_| None);
    assert!(
        matches!(&unresolved, Err(SetupError::Definition { problem, .. }) if problem.contains("no local value")),
        "{unresolved:?}"
    );
}

#[tokio::test]
async fn buckets_from_the_template_are_versioned_and_events_carry_version_ids() {
    let aws = LocalAws::connect().await;
    let lake = unique_name("lake");
    create_bucket(&aws.s3(), "LakeBucket", &lake)
        .await
        .expect("create the lake bucket");
    let versions = aws
        .put_versions(&lake, "t/data/part-0.parquet", &["1\n", "2\n"])
        .await;
    assert_eq!(versions.len(), 2, "both writes are kept: {versions:?}");

    // The harness's staging bucket, routed to a queue through EventBridge as in the stack.
    let route = aws.staging_route(Route::EventBridge).await;
    let key = "dms/s/t/LOAD00000001.csv";
    let versions = aws.put_versions(&route.bucket, key, &["1\n", "2\n"]).await;
    assert_eq!(versions.len(), 2, "both writes are kept: {versions:?}");
    let carried: Vec<String> = aws
        .announced_versions(&route.queue_url, 2)
        .await
        .into_iter()
        .map(|(_, version)| version)
        .collect();
    assert_eq!(
        carried, versions,
        "each event carries its write's version id"
    );
}
