//! The file tracker in DynamoDB.
//!
//! Table layout (docs/DESIGN.md, "File tracker"):
//! - partition key `table_id` (S) = `schema.table`;
//! - sort key `file_sk` (S) = `<order key>#<object version>`: files of a table sort in table
//!   order, and one object version has exactly one possible item;
//! - global secondary index `pending-by-table` on (`pending_table_id`, `file_sk`): a sparse index
//!   holding only files still to apply (the attribute is removed when a file is processed), so the
//!   processor reads its backlog in order with one Query, never a Scan;
//! - `expires_at` (N, epoch seconds) is the TTL attribute, set only on finished files.
//!
//! A record is a `PutItem` conditional on `attribute_not_exists(table_id)`: the first delivery
//! creates the item, every later delivery of the same object version fails the condition and is
//! reported as a duplicate, whatever the interleaving.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_smithy_types::error::operation::BuildError;
use chrono::{SecondsFormat, Utc};
use thiserror::Error;

use crate::adapters::dynamodb::store_error;
use crate::file_tracker::{FileStatus, FileTracker, LandedFile, RecordOutcome};
use crate::state_store::StoreError;

/// Attribute names of file-tracker items.
pub mod attr {
    /// Partition key: `schema.table`.
    pub const TABLE_ID: &str = "table_id";
    /// Sort key: `<order key>#<object version>`.
    pub const FILE_SK: &str = "file_sk";
    /// Partition key of the pending index; present only while the file waits to be applied.
    pub const PENDING_TABLE_ID: &str = "pending_table_id";
    /// Source schema.
    pub const SCHEMA: &str = "schema";
    /// Source table.
    pub const TABLE: &str = "table";
    /// Staging bucket.
    pub const BUCKET: &str = "bucket";
    /// Decoded object key.
    pub const KEY: &str = "key";
    /// Size in bytes (when known).
    pub const SIZE: &str = "size";
    /// ETag (when known).
    pub const ETAG: &str = "etag";
    /// S3 version id (when versioned).
    pub const VERSION_ID: &str = "version_id";
    /// S3 event sequencer (when known).
    pub const SEQUENCER: &str = "sequencer";
    /// Version id or ETag: what the sort key's suffix is.
    pub const OBJECT_VERSION: &str = "object_version";
    /// `full_load` or `cdc`.
    pub const KIND: &str = "kind";
    /// `csv`, `csv.gz` or `parquet`.
    pub const FORMAT: &str = "format";
    /// The file's place in the table order.
    pub const ORDER_KEY: &str = "order_key";
    /// When the object was created (RFC 3339, UTC).
    pub const LANDED_AT: &str = "landed_at";
    /// When the file-manager recorded it (RFC 3339, UTC).
    pub const RECORDED_AT: &str = "recorded_at";
    /// Lifecycle status, `landed` first.
    pub const STATUS: &str = "status";
    /// TTL attribute (epoch seconds), set on finished files only.
    pub const EXPIRES_AT: &str = "expires_at";
}

/// Name of the sparse index of files waiting to be applied.
pub const PENDING_INDEX: &str = "pending-by-table";

/// How errors name this store.
const STORE: &str = "the file tracker";

/// The sort key of a file: its order key, then `#`, then its object version. Neither S3 version
/// ids nor ETags contain `#`, so the last `#` splits a sort key unambiguously.
pub fn file_sort_key(file: &LandedFile) -> String {
    format!("{}#{}", file.order_key, file.object_version())
}

/// Creating the tracker table failed.
#[derive(Debug, Error)]
pub enum TableSetupError {
    /// A request could not be built (a required field is missing: a bug).
    #[error("invalid table definition: {0}")]
    Definition(#[from] BuildError),
    /// DynamoDB refused or did not answer the CreateTable call.
    #[error("could not create the file-tracker table: {0}")]
    Create(String),
}

/// [`FileTracker`] on a DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoDbFileTracker {
    client: Client,
    table_name: String,
}

impl DynamoDbFileTracker {
    /// A tracker writing to `table_name`.
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        Self {
            client,
            table_name: table_name.into(),
        }
    }

    /// Creates the tracker table (on-demand, with the pending index and TTL) as the stack defines
    /// it; used by the local environment and tests. An existing table is left as it is.
    pub async fn create_table(client: &Client, table_name: &str) -> Result<(), TableSetupError> {
        let string_attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key = |name: &str, key_type: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
        };
        let pending_index = GlobalSecondaryIndex::builder()
            .index_name(PENDING_INDEX)
            .key_schema(key(attr::PENDING_TABLE_ID, KeyType::Hash)?)
            .key_schema(key(attr::FILE_SK, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()?;
        let created = client
            .create_table()
            .table_name(table_name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(string_attr(attr::TABLE_ID)?)
            .attribute_definitions(string_attr(attr::FILE_SK)?)
            .attribute_definitions(string_attr(attr::PENDING_TABLE_ID)?)
            .key_schema(key(attr::TABLE_ID, KeyType::Hash)?)
            .key_schema(key(attr::FILE_SK, KeyType::Range)?)
            .global_secondary_indexes(pending_index)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) =>
            {
                return Ok(());
            }
            Err(e) => return Err(TableSetupError::Create(DisplayErrorContext(e).to_string())),
        }
        // TTL is a separate call; a failure here leaves a usable table, so it is only logged.
        if let Err(e) = client
            .update_time_to_live()
            .table_name(table_name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(attr::EXPIRES_AT)
                    .build()?,
            )
            .send()
            .await
        {
            tracing::warn!(table = table_name, error = %DisplayErrorContext(&e),
                "could not enable TTL on the file tracker");
        }
        Ok(())
    }

    fn item(file: &LandedFile) -> HashMap<String, AttributeValue> {
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let table_id = file.table.id();
        let mut item = HashMap::from([
            (attr::TABLE_ID.to_owned(), s(&table_id)),
            (attr::FILE_SK.to_owned(), s(&file_sort_key(file))),
            (attr::PENDING_TABLE_ID.to_owned(), s(&table_id)),
            (attr::SCHEMA.to_owned(), s(&file.table.schema)),
            (attr::TABLE.to_owned(), s(&file.table.table)),
            (attr::BUCKET.to_owned(), s(&file.bucket)),
            (attr::KEY.to_owned(), s(file.key.as_str())),
            (attr::OBJECT_VERSION.to_owned(), s(file.object_version())),
            (attr::KIND.to_owned(), s(file.kind.as_str())),
            (attr::FORMAT.to_owned(), s(file.format.as_str())),
            (attr::ORDER_KEY.to_owned(), s(file.order_key.as_str())),
            (
                attr::LANDED_AT.to_owned(),
                s(&file.landed_at.to_rfc3339_opts(SecondsFormat::Millis, true)),
            ),
            (
                attr::RECORDED_AT.to_owned(),
                s(&Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)),
            ),
            (attr::STATUS.to_owned(), s(FileStatus::Landed.as_str())),
        ]);
        let optional = [
            (attr::ETAG, file.etag.as_deref()),
            (attr::VERSION_ID, file.version_id.as_deref()),
            (attr::SEQUENCER, file.sequencer.as_deref()),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                item.insert(name.to_owned(), s(value));
            }
        }
        if let Some(size) = file.size {
            item.insert(attr::SIZE.to_owned(), AttributeValue::N(size.to_string()));
        }
        item
    }
}

impl FileTracker for DynamoDbFileTracker {
    async fn record_landed(&self, file: &LandedFile) -> Result<RecordOutcome, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table_name)
            .set_item(Some(Self::item(file)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", attr::TABLE_ID)
            .send()
            .await;
        match result {
            Ok(_) => Ok(RecordOutcome::Recorded),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(RecordOutcome::AlreadyRecorded)
            }
            Err(e) => Err(store_error(STORE, &e)),
        }
    }
}
