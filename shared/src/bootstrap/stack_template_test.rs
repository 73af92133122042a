//! Unit tests of `stack_template`: the reader on small templates, and the committed template's
//! resources against what the adapters read and write.

use super::*;
use crate::adapters::dynamodb_file_tracker::{DynamoDbFileTracker, PENDING_INDEX};
use crate::adapters::dynamodb_processing_tracker::DynamoDbProcessingTracker;
use crate::adapters::dynamodb_table_registry::{CADENCE_INDEX, DynamoDbTableRegistry};
use crate::adapters::{
    dynamodb_file_tracker, dynamodb_processing_tracker, dynamodb_table_registry,
};

const SMALL: &str = r#"
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Timeout:
    Type: Number
    Default: 120
  Architecture:
    Type: String
    Default: arm64
Resources:
  Files:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-files"
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - { AttributeName: pk, AttributeType: S }
        - { AttributeName: sk, AttributeType: S }
        - { AttributeName: gpk, AttributeType: S }
      KeySchema:
        - { AttributeName: pk, KeyType: HASH }
        - { AttributeName: sk, KeyType: RANGE }
      GlobalSecondaryIndexes:
        - IndexName: by-g
          KeySchema:
            - { AttributeName: gpk, KeyType: HASH }
            - { AttributeName: sk, KeyType: RANGE }
          Projection: { ProjectionType: ALL }
      TimeToLiveSpecification: { AttributeName: expires_at, Enabled: true }
      SSESpecification: { SSEEnabled: !If [Never, false, true] }
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 360
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt DeadLetters.Arn
        maxReceiveCount: 5
  LongFormQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: { Ref: Timeout }
      RedrivePolicy:
        deadLetterTargetArn: { "Fn::GetAtt": [DeadLetters, Arn] }
        maxReceiveCount: 3
  DeadLetters:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: 1209600
  Worker:
    Type: AWS::Lambda::Function
    Properties:
      Handler: bootstrap
      Runtime: provided.al2023
      Architectures: [!Ref Architecture]
      Timeout: !Ref Timeout
      Code:
        S3Bucket: !Ref Bucket
        S3Key: !Sub "${Prefix}/${BuildId}/worker.zip"
      Environment:
        Variables:
          TABLE: !Ref Files
  Machine:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      DefinitionS3Location: ./machine.asl.json
      DefinitionSubstitutions:
        WorkerArn: !Ref WorkerAlias
        QueueArn: !GetAtt Queue.Arn
"#;

fn small() -> StackTemplate {
    match StackTemplate::parse(SMALL) {
        Ok(template) => template,
        Err(e) => panic!("the small template does not parse: {e}"),
    }
}

fn key(attribute: &str, key_type: &str) -> KeyElement {
    KeyElement {
        attribute_name: attribute.to_owned(),
        key_type: key_type.to_owned(),
    }
}

#[test]
fn a_table_is_read_with_keys_indexes_and_ttl_past_intrinsics() {
    let Ok(table) = small().dynamodb_table("Files") else {
        panic!("Files unreadable");
    };
    assert_eq!(
        table.key_schema,
        vec![key("pk", "HASH"), key("sk", "RANGE")]
    );
    assert_eq!(table.attribute_definitions.len(), 3);
    let index = table.index("by-g").map(|i| i.key_schema.clone());
    assert_eq!(index, Some(vec![key("gpk", "HASH"), key("sk", "RANGE")]));
    assert_eq!(table.ttl_attribute(), Some("expires_at"));
}

#[test]
fn queues_are_read_with_their_redrive_in_short_and_long_form() {
    let template = small();
    assert_eq!(
        template.queue("Queue"),
        Ok(QueueSpec {
            visibility_timeout: Some(360),
            message_retention_period: None,
            redrive: Some(("DeadLetters".to_owned(), 5)),
        })
    );
    assert_eq!(
        template.queue("LongFormQueue"),
        Ok(QueueSpec {
            visibility_timeout: Some(120),
            message_retention_period: None,
            redrive: Some(("DeadLetters".to_owned(), 3)),
        })
    );
}

#[test]
fn functions_resolve_parameter_defaults_and_keep_the_code_key_pattern() {
    assert_eq!(
        small().functions(),
        Ok(vec![FunctionSpec {
            logical_id: "Worker".to_owned(),
            handler: "bootstrap".to_owned(),
            runtime: "provided.al2023".to_owned(),
            architectures: vec!["arm64".to_owned()],
            code_key: "${Prefix}/${BuildId}/worker.zip".to_owned(),
            timeout: Some(120),
            environment: vec!["TABLE".to_owned()],
        }])
    );
}

#[test]
fn the_state_machine_names_its_definition_file_and_substitutions() {
    assert_eq!(
        small().state_machine("Machine"),
        Ok(StateMachineSpec {
            definition_file: "machine.asl.json".to_owned(),
            substitutions: BTreeMap::from([
                (
                    "QueueArn".to_owned(),
                    Reference::GetAtt("Queue".to_owned(), "Arn".to_owned())
                ),
                (
                    "WorkerArn".to_owned(),
                    Reference::Ref("WorkerAlias".to_owned())
                ),
            ]),
        })
    );
}

#[test]
fn a_missing_or_mistyped_resource_is_named() {
    let template = small();
    assert_eq!(
        template.dynamodb_table("Nope").map(|_| ()),
        Err(TemplateError::MissingResource("Nope".to_owned()))
    );
    let error = template.dynamodb_table("Queue").map(|_| ());
    assert_eq!(
        error,
        Err(TemplateError::WrongType {
            logical_id: "Queue".to_owned(),
            expected: "AWS::DynamoDB::Table",
            found: "AWS::SQS::Queue".to_owned(),
        })
    );
    assert!(matches!(
        StackTemplate::parse("just: text"),
        Err(TemplateError::Unreadable(_))
    ));
}

#[test]
fn buckets_are_read_with_their_versioning_and_eventbridge_notifications() {
    let template = StackTemplate::parse(
        r#"
Resources:
  Versioned:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration: {Status: Enabled}
      NotificationConfiguration:
        EventBridgeConfiguration: {EventBridgeEnabled: true}
  Suspended:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration: {Status: Suspended}
  Plain:
    Type: AWS::S3::Bucket
    Properties: {}
"#,
    )
    .unwrap_or_else(|e| panic!("the bucket template does not parse: {e}"));
    let spec = |id: &str| {
        template
            .bucket(id)
            .map(|b| (b.versioned, b.eventbridge_notifications))
    };
    assert_eq!(spec("Versioned"), Ok((true, true)));
    assert_eq!(spec("Suspended"), Ok((false, false)));
    assert_eq!(spec("Plain"), Ok((false, false)));
}

// ---- the committed template against the adapters ----

#[test]
fn the_stack_versions_both_buckets_and_sends_staging_events_to_eventbridge() {
    let staging = bundled().bucket("StagingBucket");
    assert_eq!(
        staging.map(|b| (b.versioned, b.eventbridge_notifications)),
        Ok((true, true)),
        "local copies are created from this; the file tracker identifies object versions"
    );
    assert_eq!(
        bundled().bucket("LakeBucket").map(|b| b.versioned),
        Ok(true)
    );
}

fn bundled() -> StackTemplate {
    match StackTemplate::bundled() {
        Ok(template) => template,
        Err(e) => panic!("infra/template.yaml does not parse: {e}"),
    }
}

fn table(logical_id: &str) -> DynamoDbTableSpec {
    match bundled().dynamodb_table(logical_id) {
        Ok(table) => table,
        Err(e) => panic!("{e}"),
    }
}

fn keys(schema: &[KeyElement]) -> (Option<String>, Option<String>) {
    (
        DynamoDbTableSpec::key(schema, "HASH"),
        DynamoDbTableSpec::key(schema, "RANGE"),
    )
}

fn some(a: &str, b: &str) -> (Option<String>, Option<String>) {
    (Some(a.to_owned()), Some(b.to_owned()))
}

#[test]
fn the_stack_defines_the_file_tracker_as_its_adapter_uses_it() {
    use dynamodb_file_tracker::attr;
    let spec = table(DynamoDbFileTracker::STACK_RESOURCE);
    assert_eq!(keys(&spec.key_schema), some(attr::TABLE_ID, attr::FILE_SK));
    let index = spec.index(PENDING_INDEX).map(|i| keys(&i.key_schema));
    assert_eq!(index, Some(some(attr::PENDING_TABLE_ID, attr::FILE_SK)));
    assert_eq!(
        spec.index(PENDING_INDEX)
            .map(|i| i.projection.projection_type.as_str()),
        Some("ALL"),
        "the processor reads whole backlog items from the index"
    );
    assert_eq!(spec.ttl_attribute(), Some(attr::EXPIRES_AT));
}

#[test]
fn the_stack_defines_the_processing_tracker_as_its_adapter_uses_it() {
    use dynamodb_processing_tracker::attr;
    let spec = table(DynamoDbProcessingTracker::STACK_RESOURCE);
    assert_eq!(keys(&spec.key_schema), some(attr::TABLE_ID, attr::RECORD));
    assert!(spec.global_secondary_indexes.is_empty());
    assert_eq!(spec.ttl_attribute(), Some(attr::EXPIRES_AT));
}

#[test]
fn the_stack_defines_the_config_table_as_its_adapter_uses_it() {
    use dynamodb_table_registry::attr;
    let spec = table(DynamoDbTableRegistry::STACK_RESOURCE);
    assert_eq!(
        keys(&spec.key_schema),
        (Some(attr::CONFIG_ID.to_owned()), None)
    );
    let index = spec.index(CADENCE_INDEX).map(|i| keys(&i.key_schema));
    assert_eq!(index, Some(some(attr::REFRESH_CADENCE, attr::TABLE_ID)));
    assert_eq!(spec.ttl_attribute(), None);
}

#[test]
fn every_key_attribute_of_the_stacks_tables_is_defined_as_a_string() {
    for logical_id in bundled().resources_of_type("AWS::DynamoDB::Table") {
        let spec = table(&logical_id);
        let mut used: Vec<&str> = spec
            .key_schema
            .iter()
            .chain(
                spec.global_secondary_indexes
                    .iter()
                    .flat_map(|i| &i.key_schema),
            )
            .map(|k| k.attribute_name.as_str())
            .collect();
        used.sort_unstable();
        used.dedup();
        let mut defined: Vec<&str> = spec
            .attribute_definitions
            .iter()
            .map(|a| a.attribute_name.as_str())
            .collect();
        defined.sort_unstable();
        assert_eq!(used, defined, "{logical_id}: key attributes vs definitions");
        assert!(
            spec.attribute_definitions
                .iter()
                .all(|a| a.attribute_type == "S"),
            "{logical_id}: the adapters write string keys"
        );
    }
}

fn name_values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn resource_names_resolve_sub_patterns_refs_and_parameter_defaults() {
    let template = StackTemplate::bundled().unwrap();
    let values = name_values(&[
        ("NamePrefix", "demo"),
        ("AWS::AccountId", "123456789012"),
        ("AWS::Region", "eu-west-1"),
    ]);
    let name = |id, kind, property| template.resource_name(id, kind, property, &values);
    assert_eq!(
        name("FileTrackerTable", "AWS::DynamoDB::Table", "TableName").unwrap(),
        "demo-file-tracker"
    );
    assert_eq!(
        name("StagingBucket", "AWS::S3::Bucket", "BucketName").unwrap(),
        "demo-staging-123456789012-eu-west-1"
    );
    assert_eq!(
        name("GlueDatabase", "AWS::Glue::Database", "DatabaseInput.Name").unwrap(),
        "tributary_lake",
        "a !Ref to a parameter without a value takes its default"
    );
}

#[test]
fn resource_name_without_a_value_for_a_placeholder_is_an_error() {
    let template = StackTemplate::bundled().unwrap();
    let error = template
        .resource_name(
            "LakeBucket",
            "AWS::S3::Bucket",
            "BucketName",
            &name_values(&[("NamePrefix", "demo")]),
        )
        .unwrap_err();
    assert!(error.to_string().contains("AWS::AccountId"), "{error}");
}
