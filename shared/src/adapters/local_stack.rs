//! Local copies of the stack's resources, created from the template's own definitions
//! ([`crate::bootstrap::stack_template`]): S3 buckets, DynamoDB tables, SQS queues and the state machine.
//! The local environment and the integration tests use these, so their resources are the
//! deployed ones by construction (names aside).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_s3::types::{
    BucketVersioningStatus, EventBridgeConfiguration, NotificationConfiguration,
    VersioningConfiguration,
};
use aws_sdk_sqs::types::QueueAttributeName;
use aws_smithy_types::error::display::DisplayErrorContext;
use serde_json::json;
use thiserror::Error;

use crate::bootstrap::stack_template::{
    KeyElement, Reference, STATE_MACHINE_DEFINITION, StackTemplate, TemplateError,
};

/// Creating a local resource failed.
#[derive(Debug, Error)]
pub enum SetupError {
    /// The template does not define the resource as expected.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The definition cannot be turned into a request (an unknown key type, an unresolved
    /// substitution).
    #[error("cannot create {resource} from the template: {problem}")]
    Definition {
        /// The logical id.
        resource: String,
        /// What is wrong.
        problem: String,
    },
    /// The service refused or did not answer.
    #[error("could not create {resource}: {detail}")]
    Request {
        /// The logical id.
        resource: String,
        /// The service error.
        detail: String,
    },
}

fn definition_error(resource: &str, problem: impl ToString) -> SetupError {
    SetupError::Definition {
        resource: resource.to_owned(),
        problem: problem.to_string(),
    }
}

fn request_error(resource: &str, error: impl std::error::Error) -> SetupError {
    SetupError::Request {
        resource: resource.to_owned(),
        detail: DisplayErrorContext(error).to_string(),
    }
}

fn key_element(resource: &str, key: &KeyElement) -> Result<KeySchemaElement, SetupError> {
    KeySchemaElement::builder()
        .attribute_name(&key.attribute_name)
        .key_type(KeyType::from(key.key_type.as_str()))
        .build()
        .map_err(|e| definition_error(resource, e))
}

/// Creates the S3 bucket `bucket_name` as the bundled template defines `logical_id`: versioned
/// when the template versions it (so a key written twice keeps both versions and events carry
/// version ids, as in AWS), with EventBridge notifications when the template sends them. An
/// existing bucket gets the same settings.
pub async fn create_bucket(
    client: &aws_sdk_s3::Client,
    logical_id: &str,
    bucket_name: &str,
) -> Result<(), SetupError> {
    let spec = StackTemplate::bundled()?.bucket(logical_id)?;
    if let Err(e) = client.create_bucket().bucket(bucket_name).send().await {
        let exists = e
            .as_service_error()
            .is_some_and(|s| s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists());
        if !exists {
            return Err(request_error(logical_id, e));
        }
    }
    if spec.versioned {
        client
            .put_bucket_versioning()
            .bucket(bucket_name)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| request_error(logical_id, e))?;
    }
    if spec.eventbridge_notifications {
        client
            .put_bucket_notification_configuration()
            .bucket(bucket_name)
            .notification_configuration(
                NotificationConfiguration::builder()
                    .event_bridge_configuration(EventBridgeConfiguration::builder().build())
                    .build(),
            )
            .send()
            .await
            .map_err(|e| request_error(logical_id, e))?;
    }
    Ok(())
}

/// Creates the DynamoDB table `table_name` as the bundled template defines `logical_id`
/// (on-demand, keys, indexes, TTL). An existing table is left as it is.
pub async fn create_dynamodb_table(
    client: &aws_sdk_dynamodb::Client,
    logical_id: &str,
    table_name: &str,
) -> Result<(), SetupError> {
    let spec = StackTemplate::bundled()?.dynamodb_table(logical_id)?;
    let mut request = client
        .create_table()
        .table_name(table_name)
        .billing_mode(BillingMode::PayPerRequest);
    for key in &spec.key_schema {
        request = request.key_schema(key_element(logical_id, key)?);
    }
    for attribute in &spec.attribute_definitions {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&attribute.attribute_name)
                .attribute_type(ScalarAttributeType::from(attribute.attribute_type.as_str()))
                .build()
                .map_err(|e| definition_error(logical_id, e))?,
        );
    }
    for index in &spec.global_secondary_indexes {
        let mut builder = GlobalSecondaryIndex::builder().index_name(&index.index_name);
        for key in &index.key_schema {
            builder = builder.key_schema(key_element(logical_id, key)?);
        }
        let projection = Projection::builder()
            .projection_type(ProjectionType::from(
                index.projection.projection_type.as_str(),
            ))
            .set_non_key_attributes(
                (!index.projection.non_key_attributes.is_empty())
                    .then(|| index.projection.non_key_attributes.clone()),
            )
            .build();
        request = request.global_secondary_indexes(
            builder
                .projection(projection)
                .build()
                .map_err(|e| definition_error(logical_id, e))?,
        );
    }
    match request.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            return Ok(());
        }
        Err(e) => return Err(request_error(logical_id, e)),
    }
    if let Some(attribute) = spec.ttl_attribute() {
        client
            .update_time_to_live()
            .table_name(table_name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(attribute)
                    .build()
                    .map_err(|e| definition_error(logical_id, e))?,
            )
            .send()
            .await
            .map_err(|e| request_error(logical_id, e))?;
    }
    Ok(())
}

/// Creates the SQS queue `queue_name` as the bundled template defines `logical_id`
/// (visibility timeout, retention, redrive to `dead_letter_arn` when the template has a redrive
/// policy) and returns its URL.
pub async fn create_queue(
    client: &aws_sdk_sqs::Client,
    logical_id: &str,
    queue_name: &str,
    dead_letter_arn: Option<&str>,
) -> Result<String, SetupError> {
    let spec = StackTemplate::bundled()?.queue(logical_id)?;
    let mut attributes = HashMap::new();
    if let Some(seconds) = spec.visibility_timeout {
        attributes.insert(QueueAttributeName::VisibilityTimeout, seconds.to_string());
    }
    if let Some(seconds) = spec.message_retention_period {
        attributes.insert(
            QueueAttributeName::MessageRetentionPeriod,
            seconds.to_string(),
        );
    }
    if let Some((dead_letter_queue, max_receive_count)) = &spec.redrive {
        let arn = dead_letter_arn.ok_or_else(|| {
            definition_error(
                logical_id,
                format!("it redrives to {dead_letter_queue}; give that queue's ARN"),
            )
        })?;
        attributes.insert(
            QueueAttributeName::RedrivePolicy,
            json!({"deadLetterTargetArn": arn, "maxReceiveCount": max_receive_count}).to_string(),
        );
    }
    let output = client
        .create_queue()
        .queue_name(queue_name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .map_err(|e| request_error(logical_id, e))?;
    output
        .queue_url
        .ok_or_else(|| definition_error(logical_id, "the service returned no queue URL"))
}

/// The bundled state machine definition with the template's substitutions applied; `resolve`
/// gives the local value of each referenced resource (e.g. a function ARN).
pub fn state_machine_definition(
    logical_id: &str,
    resolve: impl Fn(&Reference) -> Option<String>,
) -> Result<String, SetupError> {
    let spec = StackTemplate::bundled()?.state_machine(logical_id)?;
    let mut definition = STATE_MACHINE_DEFINITION.to_owned();
    for (name, reference) in &spec.substitutions {
        let value = resolve(reference).ok_or_else(|| {
            definition_error(
                logical_id,
                format!("no local value for ${{{name}}} ({reference:?})"),
            )
        })?;
        definition = definition.replace(&format!("${{{name}}}"), &value);
    }
    if let Some(start) = definition.find("${") {
        let rest = &definition[start..];
        let end = rest.find('}').map_or(rest.len(), |i| i + 1);
        return Err(definition_error(
            logical_id,
            format!(
                "{} is used by the definition but not substituted by the template",
                &rest[..end]
            ),
        ));
    }
    Ok(definition)
}

/// Creates the state machine `name` from the bundled definition (see
/// [`state_machine_definition`]) and returns its ARN.
pub async fn create_state_machine(
    client: &aws_sdk_sfn::Client,
    logical_id: &str,
    name: &str,
    role_arn: &str,
    resolve: impl Fn(&Reference) -> Option<String>,
) -> Result<String, SetupError> {
    let definition = state_machine_definition(logical_id, resolve)?;
    let output = client
        .create_state_machine()
        .name(name)
        .definition(definition)
        .role_arn(role_arn)
        .send()
        .await
        .map_err(|e| request_error(logical_id, e))?;
    Ok(output.state_machine_arn)
}
