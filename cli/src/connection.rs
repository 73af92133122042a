//! How the CLI reaches AWS and which deployment it talks to: the endpoint, region and profile,
//! and the stack's resource names, derived from `infra/template.yaml` exactly as the stack
//! derives them (so the CLI, the local runner and the deployed stack cannot drift apart).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use tributary_shared::adapters::dynamodb_file_tracker::DynamoDbFileTracker;
use tributary_shared::adapters::dynamodb_processing_tracker::DynamoDbProcessingTracker;
use tributary_shared::adapters::dynamodb_table_registry::DynamoDbTableRegistry;
use tributary_shared::bootstrap::aws;
use tributary_shared::bootstrap::stack_template::StackTemplate;

use crate::local_state::LocalState;

/// Where the CLI sends its requests (global options of every command).
#[derive(clap::Args, Debug, Clone)]
pub struct Connection {
    /// Custom AWS endpoint for every service, e.g. an emulator.
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// AWS region (else the SDK's usual resolution: profile, `AWS_DEFAULT_REGION`, …).
    #[arg(long, global = true, env = "AWS_REGION")]
    pub region: Option<String>,
    /// Named profile of the shared AWS config and credentials files.
    #[arg(long, global = true, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// The stack's `NamePrefix` parameter; table, queue and state machine names derive from it.
    #[arg(
        long,
        global = true,
        env = "TRIBUTARY_PREFIX",
        default_value = "tributary"
    )]
    pub prefix: String,
    /// Talk to the local pipeline `tributary local up` started (endpoint and names come from its
    /// state directory), instead of AWS.
    #[arg(long, global = true)]
    pub local: bool,
    /// Where `tributary local` keeps the state of the local pipeline.
    #[arg(
        long,
        global = true,
        env = "TRIBUTARY_LOCAL_DIR",
        default_value = ".tributary"
    )]
    pub local_dir: PathBuf,
}

/// The names of a stack's resources that do not depend on the account (DynamoDB tables, queues,
/// state machine, Glue database).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StackNames {
    /// The `NamePrefix`.
    pub prefix: String,
    /// Table configurations and cadences.
    pub config_table: String,
    /// Landed DMS files.
    pub file_tracker_table: String,
    /// Leases and refresh history.
    pub processing_table: String,
    /// The refresh state machine.
    pub state_machine: String,
    /// The queue of S3 notifications.
    pub file_events_queue: String,
    /// Its dead-letter queue.
    pub file_events_dead_letter_queue: String,
    /// The EventBridge rule routing staging-bucket objects to the queue.
    pub file_events_rule: String,
    /// The Glue database (the template parameter's default).
    pub glue_database: String,
}

impl StackNames {
    /// The names the bundled template gives a stack with `NamePrefix = prefix`.
    pub fn for_prefix(prefix: &str) -> Result<StackNames> {
        let template = StackTemplate::bundled()?;
        let values = BTreeMap::from([("NamePrefix".to_owned(), prefix.to_owned())]);
        let name = |logical_id: &str, kind: &'static str, property: &str| {
            template_name(&template, &values, logical_id, kind, property)
        };
        const TABLE: &str = "AWS::DynamoDB::Table";
        const QUEUE: &str = "AWS::SQS::Queue";
        Ok(StackNames {
            prefix: prefix.to_owned(),
            config_table: name(DynamoDbTableRegistry::STACK_RESOURCE, TABLE, "TableName")?,
            file_tracker_table: name(DynamoDbFileTracker::STACK_RESOURCE, TABLE, "TableName")?,
            processing_table: name(
                DynamoDbProcessingTracker::STACK_RESOURCE,
                TABLE,
                "TableName",
            )?,
            state_machine: name(
                "RefreshStateMachine",
                "AWS::StepFunctions::StateMachine",
                "StateMachineName",
            )?,
            file_events_queue: name("FileEventsQueue", QUEUE, "QueueName")?,
            file_events_dead_letter_queue: name("FileEventsDeadLetterQueue", QUEUE, "QueueName")?,
            file_events_rule: name("FileEventsRule", "AWS::Events::Rule", "Name")?,
            glue_database: name("GlueDatabase", "AWS::Glue::Database", "DatabaseInput.Name")?,
        })
    }
}

/// The name the template gives bucket `logical_id` of a stack with `NamePrefix = prefix` in
/// `account_id` and `region` (bucket names include both).
pub fn bucket_name(
    prefix: &str,
    logical_id: &str,
    account_id: &str,
    region: &str,
) -> Result<String> {
    let values = [
        ("NamePrefix", prefix),
        ("AWS::AccountId", account_id),
        ("AWS::Region", region),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    template_name(
        &StackTemplate::bundled()?,
        &values,
        logical_id,
        "AWS::S3::Bucket",
        "BucketName",
    )
}

fn template_name(
    template: &StackTemplate,
    values: &BTreeMap<String, String>,
    logical_id: &str,
    kind: &'static str,
    property: &str,
) -> Result<String> {
    template
        .resource_name(logical_id, kind, property, values)
        .with_context(|| format!("the name of {logical_id} in infra/template.yaml"))
}

/// A connected session: the SDK configuration and the stack's names.
pub struct Session {
    /// One SDK configuration every client is built from.
    pub sdk: SdkConfig,
    /// The stack's resource names.
    pub names: StackNames,
    /// The local pipeline's state, when talking to it.
    pub local: Option<LocalState>,
}

impl Session {
    /// The registry of table configurations and cadences.
    pub fn registry(&self) -> DynamoDbTableRegistry {
        DynamoDbTableRegistry::new(aws::dynamodb_client(&self.sdk), &self.names.config_table)
    }

    /// The file tracker.
    pub fn file_tracker(&self) -> DynamoDbFileTracker {
        DynamoDbFileTracker::new(
            aws::dynamodb_client(&self.sdk),
            &self.names.file_tracker_table,
        )
    }

    /// The processing tracker (leases, history).
    pub fn processing_tracker(&self) -> DynamoDbProcessingTracker {
        DynamoDbProcessingTracker::new(
            aws::dynamodb_client(&self.sdk),
            &self.names.processing_table,
        )
    }

    /// The local pipeline's state, for commands that only work on it.
    pub fn local_state(&self) -> Result<&LocalState> {
        self.local
            .as_ref()
            .context("not connected to a local pipeline: run `tributary local up` first")
    }
}

impl Connection {
    /// Connects: to the local pipeline with `--local` (its recorded endpoint and names), else to
    /// the endpoint/region/profile given.
    pub async fn session(&self) -> Result<Session> {
        if self.local {
            let state = LocalState::load(&self.local_dir)?;
            let sdk = local_sdk_config(&state.endpoint_url, &state.region).await;
            let names = StackNames::for_prefix(&state.prefix)?;
            return Ok(Session {
                sdk,
                names,
                local: Some(state),
            });
        }
        let sdk = sdk_config(
            self.endpoint_url.as_deref(),
            self.region.as_deref(),
            self.profile.as_deref(),
        )
        .await;
        Ok(Session {
            sdk,
            names: StackNames::for_prefix(&self.prefix)?,
            local: None,
        })
    }
}

/// The SDK configuration for the local emulator: its endpoint and region, and fixed dummy
/// credentials (the emulator accepts any; real ones must never be sent to it).
pub async fn local_sdk_config(endpoint_url: &str, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint_url)
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new(
            "local",
            "local",
            None,
            None,
            "tributary-local",
        ))
        .load()
        .await
}

/// Loads the SDK configuration with the given overrides.
pub async fn sdk_config(
    endpoint_url: Option<&str>,
    region: Option<&str>,
    profile: Option<&str>,
) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_owned()));
    }
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    loader.load().await
}
