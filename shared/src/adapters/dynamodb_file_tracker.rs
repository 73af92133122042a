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
//! reported as a duplicate, whatever the interleaving. (Two exceptions, each under a condition on
//! the stored status: a DMS file recorded `unregistered` becomes `landed` once its table is
//! registered, and an `unrecognized` record gets the reason of its latest examination.)
//!
//! Objects that are not a registered table's DMS files are kept where one Query finds them all:
//! the pending index's partition [`UNROUTED`]. A DMS file of an unregistered table keeps its
//! table's item (status `unregistered`) but sits in that partition instead of its backlog; any
//! other object (status `unrecognized`) has its item in the [`UNROUTED`] partition of the table,
//! under a fixed-length sort key `<SHA-256 of the key>#<object version>`, since a key may be as
//! long as a whole sort key.
//!
//! The processor's writes ([`FileBacklog`]) are transactions that also check the table's lease
//! item in the processing tracker (owner and fencing token), so a processor whose lease was taken
//! over changes no file. A transaction holds at most 100 items: one lease check and up to
//! [`MARK_CHUNK`] file updates.
//!
//! Before a refresh reads its files it records an attempt on them (`attempt_refresh_id`,
//! `attempt_token`, `attempt_files`, `attempted_at`); every outcome (processed, failed,
//! superseded, or the attempt ended) removes it, so an attempt found by a later refresh is one
//! whose processor died while applying it.

use std::collections::HashSet;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use crate::adapters::dynamodb::{
    Item, ItemReader, conditional_write, invalid_request, number_value, placeholders, store_error,
    string_value, timestamp,
};
use crate::adapters::dynamodb_processing_tracker::fenced_write;
use crate::adapters::local_stack::{SetupError, create_dynamodb_table};
use crate::domain::dms_layout::{FileFormat, FileKind};
use crate::ports::file_tracker::{
    Arrival, BacklogFile, BacklogLimit, BacklogOverview, BacklogSummary, FailureFingerprint,
    FileAttempt, FileBacklog, FileFailure, FileStatus, FileTracker, KeyVersion, LandedFile,
    RecordOutcome, SupersededFile, TrackedFile, UnrecognizedObject, UnroutedRecord,
};
use crate::ports::processing_tracker::Lease;
use crate::ports::state_store::StoreError;

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
    /// Lifecycle status: `landed`, `processed`, `quarantined`, `unregistered` or `unrecognized`.
    pub const STATUS: &str = "status";
    /// TTL attribute (epoch seconds), set on finished files only.
    pub const EXPIRES_AT: &str = "expires_at";
    /// The refresh that applied the file.
    pub const REFRESH_ID: &str = "refresh_id";
    /// When the file was applied (RFC 3339, UTC).
    pub const PROCESSED_AT: &str = "processed_at";
    /// Consecutive failed refreshes on the file with `last_error` (absent means 0).
    pub const FAILURES: &str = "failures";
    /// The error of the last failed refresh of the file.
    pub const LAST_ERROR: &str = "last_error";
    /// The fingerprint of that failure (absent on items failed before fingerprints existed).
    pub const LAST_ERROR_FINGERPRINT: &str = "last_error_fingerprint";
    /// When a refresh last failed on the file (RFC 3339, UTC).
    pub const LAST_FAILED_AT: &str = "last_failed_at";
    /// Why an `unregistered` or `unrecognized` object is not applied.
    pub const REASON: &str = "reason";
    /// The refresh that started applying the file and recorded no outcome yet.
    pub const ATTEMPT_REFRESH_ID: &str = "attempt_refresh_id";
    /// The fencing token of that refresh's lease.
    pub const ATTEMPT_TOKEN: &str = "attempt_token";
    /// How many files that refresh applied together.
    pub const ATTEMPT_FILES: &str = "attempt_files";
    /// When that refresh started applying the file (RFC 3339, UTC).
    pub const ATTEMPTED_AT: &str = "attempted_at";
    /// Why the file was superseded (the newer version, or that its version no longer exists).
    pub const SUPERSEDED_BY: &str = "superseded_by";
}

/// The attempt attributes, removed by every outcome.
const ATTEMPT: [&str; 4] = [
    attr::ATTEMPT_REFRESH_ID,
    attr::ATTEMPT_TOKEN,
    attr::ATTEMPT_FILES,
    attr::ATTEMPTED_AT,
];

/// `#name, #name, …`: the placeholders of `attributes` as a list (REMOVE clauses, projections).
fn name_list(attributes: &[&str]) -> String {
    attributes
        .iter()
        .map(|name| format!("#{name}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The pending-index partition (and, for `unrecognized` objects, the table partition) of every
/// object that is not in a registered table's backlog. Not a table id: ids always hold a `.`.
pub const UNROUTED: &str = "#unrouted";

/// Name of the sparse index of files waiting to be applied.
pub const PENDING_INDEX: &str = "pending-by-table";

/// Most file updates in one fenced transaction (DynamoDB allows 100 items; one is the lease check).
pub const MARK_CHUNK: usize = 99;

/// Most items one backlog Query page asks for: a limit of `n` files needs `n + 1` items to know
/// where to stop.
const PAGE_ITEMS: usize = 1000;

/// How errors name this store.
const STORE: &str = "the file tracker";

/// The sort key of a file: its order key, then `#`, then its object version. Neither S3 version
/// ids nor ETags contain `#`, so the last `#` splits a sort key unambiguously.
pub fn file_sort_key(file: &LandedFile) -> String {
    format!("{}#{}", file.order_key, file.object_version())
}

/// [`FileTracker`] and [`FileBacklog`] on a DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoDbFileTracker {
    client: Client,
    table_name: String,
    lease_table: Option<String>,
}

impl DynamoDbFileTracker {
    /// A tracker writing to `table_name`. The processor's writes also need
    /// [`DynamoDbFileTracker::with_lease_table`].
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        Self {
            client,
            table_name: table_name.into(),
            lease_table: None,
        }
    }

    /// The same tracker, fencing its [`FileBacklog`] writes with the leases kept in the
    /// processing-tracker table `lease_table`.
    pub fn with_lease_table(mut self, lease_table: impl Into<String>) -> Self {
        self.lease_table = Some(lease_table.into());
        self
    }

    /// The stack template's logical id of this table (`infra/template.yaml`).
    pub const STACK_RESOURCE: &str = "FileTrackerTable";

    /// Creates the table as the stack template defines it; used by the local environment and
    /// tests. An existing table is left as it is.
    pub async fn create_table(client: &Client, table_name: &str) -> Result<(), SetupError> {
        create_dynamodb_table(client, Self::STACK_RESOURCE, table_name).await
    }

    /// The item recording `arrival`, with the condition its put needs.
    fn arrival_item(arrival: &Arrival) -> (Item, &'static str) {
        match arrival {
            Arrival::Landed(file) => (
                Self::file_item(file, FileStatus::Landed, &file.table.id(), None),
                "attribute_not_exists(#table_id) OR #status = :unregistered",
            ),
            Arrival::Unregistered(file) => {
                let reason = format!(
                    "table {} is not registered; fix: add it to the manifest, run `tributary config apply`, then `tributary retry --table {}`",
                    file.table.id(),
                    file.table.id()
                );
                (
                    Self::file_item(file, FileStatus::Unregistered, UNROUTED, Some(&reason)),
                    "attribute_not_exists(#table_id)",
                )
            }
            Arrival::Unrecognized(object) => (
                Self::unrecognized_item(object),
                "attribute_not_exists(#table_id) OR #status = :unrecognized",
            ),
        }
    }

    fn file_item(
        file: &LandedFile,
        status: FileStatus,
        pending_key: &str,
        reason: Option<&str>,
    ) -> Item {
        let s = |v: &str| string_value(v);
        let mut item = Self::object_item(&ObjectFacts {
            table_id: &file.table.id(),
            file_sk: &file_sort_key(file),
            pending_key,
            bucket: &file.bucket,
            key: file.key.as_str(),
            object_version: file.object_version(),
            landed_at: file.landed_at,
            status,
            reason,
        });
        item.extend([
            (attr::SCHEMA.to_owned(), s(&file.table.schema)),
            (attr::TABLE.to_owned(), s(&file.table.table)),
            (attr::KIND.to_owned(), s(file.kind.as_str())),
            (attr::FORMAT.to_owned(), s(file.format.as_str())),
            (attr::ORDER_KEY.to_owned(), s(file.order_key.as_str())),
        ]);
        insert_optional(
            &mut item,
            file.size,
            [&file.etag, &file.version_id, &file.sequencer],
        );
        item
    }

    fn unrecognized_item(unrecognized: &UnrecognizedObject) -> Item {
        let object = &unrecognized.object;
        let mut item = Self::object_item(&ObjectFacts {
            table_id: UNROUTED,
            file_sk: &unrecognized_sort_key(&object.key, object.object_version()),
            pending_key: UNROUTED,
            bucket: &object.bucket,
            key: &object.key,
            object_version: object.object_version(),
            landed_at: object.landed_at,
            status: FileStatus::Unrecognized,
            reason: Some(&unrecognized.reason),
        });
        insert_optional(
            &mut item,
            object.size,
            [&object.etag, &object.version_id, &object.sequencer],
        );
        item
    }

    /// The attributes every record has.
    fn object_item(facts: &ObjectFacts<'_>) -> Item {
        let s = |v: &str| string_value(v);
        let mut item = Item::from([
            (attr::TABLE_ID.to_owned(), s(facts.table_id)),
            (attr::FILE_SK.to_owned(), s(facts.file_sk)),
            (attr::PENDING_TABLE_ID.to_owned(), s(facts.pending_key)),
            (attr::BUCKET.to_owned(), s(facts.bucket)),
            (attr::KEY.to_owned(), s(facts.key)),
            (attr::OBJECT_VERSION.to_owned(), s(facts.object_version)),
            (attr::LANDED_AT.to_owned(), s(&timestamp(facts.landed_at))),
            (attr::RECORDED_AT.to_owned(), s(&timestamp(Utc::now()))),
            (attr::STATUS.to_owned(), s(facts.status.as_str())),
        ]);
        if let Some(reason) = facts.reason {
            item.insert(attr::REASON.to_owned(), s(reason));
        }
        item
    }

    /// An `unregistered` or `unrecognized` record read from the [`UNROUTED`] partition.
    fn unrouted_record(item: &Item) -> Result<UnroutedRecord, StoreError> {
        let read = ItemReader::new(STORE, item, &[attr::TABLE_ID, attr::FILE_SK]);
        let table_id = read.string(attr::TABLE_ID)?;
        let text = |name| -> Result<Option<String>, StoreError> {
            Ok(read.optional(name, ItemReader::string)?.map(str::to_owned))
        };
        Ok(UnroutedRecord {
            status: read.named(attr::STATUS, FileStatus::from_name)?,
            table_id: (table_id != UNROUTED).then(|| table_id.to_owned()),
            bucket: read.string(attr::BUCKET)?.to_owned(),
            key: read.string(attr::KEY)?.to_owned(),
            size: read.optional(attr::SIZE, ItemReader::number)?,
            etag: text(attr::ETAG)?,
            version_id: text(attr::VERSION_ID)?,
            sequencer: text(attr::SEQUENCER)?,
            landed_at: read.time(attr::LANDED_AT)?,
            reason: text(attr::REASON)?.unwrap_or_default(),
        })
    }

    /// Every `unregistered` and `unrecognized` record (one Query of the pending index's
    /// [`UNROUTED`] partition), by table and key.
    pub async fn unrouted(&self) -> Result<Vec<UnroutedRecord>, StoreError> {
        let mut items = self
            .pending_query(UNROUTED, &[])
            .into_paginator()
            .items()
            .send();
        let mut records = Vec::new();
        while let Some(item) = items.next().await {
            records.push(Self::unrouted_record(
                &item.map_err(|e| store_error(STORE, &e))?,
            )?);
        }
        records.sort_by(|a, b| (&a.table_id, &a.key).cmp(&(&b.table_id, &b.key)));
        Ok(records)
    }

    /// A backlog file from an item of the pending index.
    fn backlog_file(item: &Item) -> Result<BacklogFile, StoreError> {
        let read = ItemReader::new(STORE, item, &[attr::TABLE_ID, attr::FILE_SK]);
        Ok(BacklogFile {
            id: read.string(attr::FILE_SK)?.to_owned(),
            bucket: read.string(attr::BUCKET)?.to_owned(),
            key: read.string(attr::KEY)?.to_owned(),
            size: read.optional(attr::SIZE, ItemReader::number)?,
            kind: read.named(attr::KIND, FileKind::from_name)?,
            format: read.named(attr::FORMAT, FileFormat::from_name)?,
            order_key: read.string(attr::ORDER_KEY)?.to_owned(),
            landed_at: read.time(attr::LANDED_AT)?,
            status: read.named(attr::STATUS, FileStatus::from_name)?,
            failures: read
                .optional(attr::FAILURES, ItemReader::number)?
                .unwrap_or(0),
            last_error: read
                .optional(attr::LAST_ERROR, ItemReader::string)?
                .map(str::to_owned),
            last_fingerprint: read
                .optional(attr::LAST_ERROR_FINGERPRINT, ItemReader::string)?
                .map(FailureFingerprint::new),
            etag: read
                .optional(attr::ETAG, ItemReader::string)?
                .map(str::to_owned),
            version_id: read
                .optional(attr::VERSION_ID, ItemReader::string)?
                .map(str::to_owned),
            sequencer: read
                .optional(attr::SEQUENCER, ItemReader::string)?
                .map(str::to_owned),
            attempt: read.optional(attr::ATTEMPT_REFRESH_ID, |read, name| {
                Ok(FileAttempt {
                    refresh_id: read.string(name)?.to_owned(),
                    token: read.number(attr::ATTEMPT_TOKEN)?,
                    files: read.number(attr::ATTEMPT_FILES)?,
                })
            })?,
        })
    }

    /// A key version from an item of the table.
    fn key_version(item: &Item) -> Result<KeyVersion, StoreError> {
        let read = ItemReader::new(STORE, item, &[attr::TABLE_ID, attr::FILE_SK]);
        Ok(KeyVersion {
            id: read.string(attr::FILE_SK)?.to_owned(),
            order_key: read.string(attr::ORDER_KEY)?.to_owned(),
            status: read.named(attr::STATUS, FileStatus::from_name)?,
            sequencer: read
                .optional(attr::SEQUENCER, ItemReader::string)?
                .map(str::to_owned),
            landed_at: read.time(attr::LANDED_AT)?,
        })
    }

    /// Every tracked file of `table_id` (of `status`, when given), in table order: a Query of
    /// the table's items (processed files stay until their TTL), for listings.
    pub async fn tracked_files(
        &self,
        table_id: &str,
        status: Option<FileStatus>,
    ) -> Result<Vec<TrackedFile>, StoreError> {
        let mut names = vec![attr::TABLE_ID];
        let mut query = self
            .client
            .query()
            .table_name(&self.table_name)
            .key_condition_expression("#table_id = :table_id")
            .expression_attribute_values(":table_id", string_value(table_id));
        if let Some(status) = status {
            names.push(attr::STATUS);
            query = query
                .filter_expression("#status = :status")
                .expression_attribute_values(":status", string_value(status.as_str()));
        }
        let mut items = query
            .set_expression_attribute_names(Some(placeholders(&names)))
            .into_paginator()
            .items()
            .send();
        let mut files = Vec::new();
        while let Some(item) = items.next().await {
            let item = item.map_err(|e| store_error(STORE, &e))?;
            let read = ItemReader::new(STORE, &item, &[attr::TABLE_ID, attr::FILE_SK]);
            files.push(TrackedFile {
                file: Self::backlog_file(&item)?,
                pending: read.optional(attr::PENDING_TABLE_ID, ItemReader::string)?
                    == Some(table_id),
                refresh_id: read
                    .optional(attr::REFRESH_ID, ItemReader::string)?
                    .map(str::to_owned),
                processed_at: read.optional(attr::PROCESSED_AT, ItemReader::time)?,
                superseded_by: read
                    .optional(attr::SUPERSEDED_BY, ItemReader::string)?
                    .map(str::to_owned),
            });
        }
        Ok(files)
    }

    /// Puts quarantined file `file_id` of `table_id` back into the table's backlog as `landed`
    /// with its failure count reset (its last error is kept for reference). Returns `false`, and
    /// changes nothing, when the file is not quarantined.
    pub async fn requeue_quarantined(
        &self,
        table_id: &str,
        file_id: &str,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table_name)
            .key(attr::TABLE_ID, string_value(table_id))
            .key(attr::FILE_SK, string_value(file_id))
            .update_expression(
                "SET #status = :landed, #pending_table_id = :table_id REMOVE #failures",
            )
            .condition_expression("#status = :quarantined")
            .set_expression_attribute_names(Some(placeholders(&[
                attr::STATUS,
                attr::PENDING_TABLE_ID,
                attr::FAILURES,
            ])))
            .expression_attribute_values(":landed", string_value(FileStatus::Landed.as_str()))
            .expression_attribute_values(":table_id", string_value(table_id))
            .expression_attribute_values(
                ":quarantined",
                string_value(FileStatus::Quarantined.as_str()),
            )
            .send()
            .await;
        Ok(conditional_write(STORE, result)?.is_some())
    }

    /// The processing-tracker table fenced writes check the lease in.
    fn lease_table(&self) -> Result<&str, StoreError> {
        self.lease_table
            .as_deref()
            .ok_or_else(|| StoreError::Refused {
                store: STORE,
                code: "NoLeaseTable".to_owned(),
                message: "the file tracker was set up without the processing-tracker table, so it \
                      cannot fence its writes by the lease"
                    .to_owned(),
            })
    }

    /// A transactional update of an existing file item: `expression` names `attributes` as
    /// `#<name>` and uses `values`.
    fn file_update(
        &self,
        table_id: &str,
        file_id: &str,
        expression: &str,
        attributes: &[&str],
        values: Item,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut names = placeholders(attributes);
        names.extend(placeholders(&[attr::TABLE_ID]));
        let update = Update::builder()
            .table_name(&self.table_name)
            .key(attr::TABLE_ID, string_value(table_id))
            .key(attr::FILE_SK, string_value(file_id))
            .update_expression(expression)
            .condition_expression("attribute_exists(#table_id)")
            .set_expression_attribute_names(Some(names))
            // DynamoDB refuses an empty value map.
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .build()
            .map_err(|e| invalid_request(STORE, &e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Applies one update (`expression` over `attributes` with `values`) to each of `file_ids`
    /// of `lease`'s table, in fenced transactions of up to [`MARK_CHUNK`] files.
    async fn update_files_fenced(
        &self,
        lease: &Lease,
        file_ids: &[String],
        expression: &str,
        attributes: &[&str],
        values: &Item,
    ) -> Result<(), StoreError> {
        let lease_table = self.lease_table()?;
        // One transaction may not touch an item twice.
        let mut ids: Vec<&str> = file_ids.iter().map(String::as_str).collect();
        ids.sort_unstable();
        ids.dedup();
        for chunk in ids.chunks(MARK_CHUNK) {
            let updates = chunk
                .iter()
                .map(|file_id| {
                    self.file_update(
                        &lease.table_id,
                        file_id,
                        expression,
                        attributes,
                        values.clone(),
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            fenced_write(&self.client, STORE, lease_table, lease, updates).await?;
        }
        Ok(())
    }

    /// A Query of `table_id`'s files in the pending index, in table order, returning only the
    /// `projected` attributes (every attribute when none are named).
    fn pending_query(&self, table_id: &str, projected: &[&str]) -> QueryFluentBuilder {
        let mut names = vec![attr::PENDING_TABLE_ID];
        names.extend_from_slice(projected);
        let projection = name_list(projected);
        self.client
            .query()
            .table_name(&self.table_name)
            .index_name(PENDING_INDEX)
            .key_condition_expression("#pending_table_id = :table_id")
            .set_projection_expression((!projected.is_empty()).then_some(projection))
            .set_expression_attribute_names(Some(placeholders(&names)))
            .expression_attribute_values(":table_id", string_value(table_id))
    }
}

impl FileTracker for DynamoDbFileTracker {
    async fn record(&self, arrival: &Arrival) -> Result<RecordOutcome, StoreError> {
        let (item, condition) = Self::arrival_item(arrival);
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table_name)
            .set_item(Some(item))
            .condition_expression(condition)
            .expression_attribute_names("#table_id", attr::TABLE_ID);
        if condition.contains("#status") {
            let previous = match arrival {
                Arrival::Unrecognized(_) => FileStatus::Unrecognized,
                _ => FileStatus::Unregistered,
            };
            put = put
                .expression_attribute_names("#status", attr::STATUS)
                .expression_attribute_values(
                    format!(":{}", previous.as_str()),
                    string_value(previous.as_str()),
                );
        }
        let result = put
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await;
        match conditional_write(STORE, result)? {
            // Re-examining an unrecognized object renews its record; it was not new.
            Some(old)
                if old.attributes().is_some() && matches!(arrival, Arrival::Unrecognized(_)) =>
            {
                Ok(RecordOutcome::AlreadyRecorded)
            }
            Some(_) => Ok(RecordOutcome::Recorded),
            None => Ok(RecordOutcome::AlreadyRecorded),
        }
    }

    async fn forget_unrecognized(&self, object: &UnrecognizedObject) -> Result<(), StoreError> {
        let object = &object.object;
        let result = self
            .client
            .delete_item()
            .table_name(&self.table_name)
            .key(attr::TABLE_ID, string_value(UNROUTED))
            .key(
                attr::FILE_SK,
                string_value(unrecognized_sort_key(&object.key, object.object_version())),
            )
            .condition_expression("#status = :unrecognized")
            .expression_attribute_names("#status", attr::STATUS)
            .expression_attribute_values(
                ":unrecognized",
                string_value(FileStatus::Unrecognized.as_str()),
            )
            .send()
            .await;
        // A record that is gone, or no longer unrecognized, is not ours to remove.
        conditional_write(STORE, result).map(|_| ())
    }
}

/// The facts every record holds.
struct ObjectFacts<'a> {
    table_id: &'a str,
    file_sk: &'a str,
    pending_key: &'a str,
    bucket: &'a str,
    key: &'a str,
    object_version: &'a str,
    landed_at: DateTime<Utc>,
    status: FileStatus,
    reason: Option<&'a str>,
}

/// Adds the size and the ETag, version id and sequencer (in that order) that are known.
fn insert_optional(item: &mut Item, size: Option<u64>, texts: [&Option<String>; 3]) {
    let names = [attr::ETAG, attr::VERSION_ID, attr::SEQUENCER];
    for (name, value) in names.into_iter().zip(texts) {
        if let Some(value) = value {
            item.insert(name.to_owned(), string_value(value));
        }
    }
    if let Some(size) = size {
        item.insert(attr::SIZE.to_owned(), number_value(size));
    }
}

/// The sort key of an unrecognized object: `<SHA-256 of the key, hex>#<object version>` —
/// fixed length whatever the key, and one item per object version.
pub fn unrecognized_sort_key(key: &str, object_version: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{hex}#{object_version}")
}

impl BacklogOverview for DynamoDbFileTracker {
    async fn backlog_summary(&self, table_id: &str) -> Result<BacklogSummary, StoreError> {
        let mut pages = self
            .pending_query(
                table_id,
                &[
                    attr::TABLE_ID,
                    attr::FILE_SK,
                    attr::SIZE,
                    attr::STATUS,
                    attr::LANDED_AT,
                ],
            )
            .into_paginator()
            .send();
        let mut summary = BacklogSummary::default();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_error(STORE, &e))?;
            for item in page.items() {
                let read = ItemReader::new(STORE, item, &[attr::TABLE_ID, attr::FILE_SK]);
                summary.files += 1;
                let size: Option<u64> = read.optional(attr::SIZE, ItemReader::number)?;
                summary.bytes = summary.bytes.saturating_add(size.unwrap_or(0));
                if read.named(attr::STATUS, FileStatus::from_name)? == FileStatus::Quarantined {
                    summary.quarantined += 1;
                }
                let landed_at = read.time(attr::LANDED_AT)?;
                summary.oldest_landed_at = Some(
                    summary
                        .oldest_landed_at
                        .map_or(landed_at, |oldest| oldest.min(landed_at)),
                );
            }
        }
        Ok(summary)
    }
}

impl FileBacklog for DynamoDbFileTracker {
    async fn pending(
        &self,
        table_id: &str,
        limit: BacklogLimit,
    ) -> Result<Vec<BacklogFile>, StoreError> {
        let page_items = limit.max_files.saturating_add(1).min(PAGE_ITEMS);
        let mut pages = self
            .pending_query(table_id, &[])
            .scan_index_forward(true)
            .limit(i32::try_from(page_items).unwrap_or(i32::MAX))
            .into_paginator()
            .send();
        let mut files = Vec::new();
        let mut bytes = 0_u64;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_error(STORE, &e))?;
            for item in page.items() {
                let file = Self::backlog_file(item)?;
                if !limit.admits(files.len(), bytes, &file) {
                    return Ok(files);
                }
                bytes = bytes.saturating_add(file.size.unwrap_or(0));
                files.push(file);
            }
        }
        Ok(files)
    }

    async fn mark_processed(
        &self,
        lease: &Lease,
        file_ids: &[String],
        refresh_id: &str,
        processed_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let values = Item::from([
            (
                ":processed".to_owned(),
                string_value(FileStatus::Processed.as_str()),
            ),
            (":refresh_id".to_owned(), string_value(refresh_id)),
            (
                ":processed_at".to_owned(),
                string_value(timestamp(processed_at)),
            ),
            (
                ":expires_at".to_owned(),
                number_value(expires_at.timestamp()),
            ),
        ]);
        let removed = [
            &[
                attr::PENDING_TABLE_ID,
                attr::FAILURES,
                attr::LAST_ERROR,
                attr::LAST_ERROR_FINGERPRINT,
            ][..],
            &ATTEMPT,
        ]
        .concat();
        let expression = format!(
            "SET #status = :processed, #refresh_id = :refresh_id, \
             #processed_at = :processed_at, #expires_at = :expires_at REMOVE {}",
            name_list(&removed)
        );
        let attributes = [
            &[
                attr::STATUS,
                attr::REFRESH_ID,
                attr::PROCESSED_AT,
                attr::EXPIRES_AT,
            ][..],
            &removed,
        ]
        .concat();
        self.update_files_fenced(lease, file_ids, &expression, &attributes, &values)
            .await
    }

    async fn record_failure(
        &self,
        lease: &Lease,
        failure: &FileFailure,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let lease_table = self.lease_table()?;
        let mut removed = ATTEMPT.to_vec();
        if !failure.keep_pending {
            removed.push(attr::PENDING_TABLE_ID);
        }
        let mut assignments = String::from(
            "#failures = :failures, #last_error = :last_error, #status = :status, \
             #last_failed_at = :last_failed_at",
        );
        let mut attributes = vec![
            attr::FAILURES,
            attr::LAST_ERROR,
            attr::STATUS,
            attr::LAST_FAILED_AT,
        ];
        let mut values = Item::from([
            (":failures".to_owned(), number_value(failure.failures)),
            (":last_error".to_owned(), string_value(&failure.error)),
            (":status".to_owned(), string_value(failure.status.as_str())),
            (":last_failed_at".to_owned(), string_value(timestamp(at))),
        ]);
        // Without a fingerprint the stored one is kept (a failure recorded again as it was).
        if let Some(fingerprint) = &failure.fingerprint {
            assignments.push_str(", #last_error_fingerprint = :fingerprint");
            attributes.push(attr::LAST_ERROR_FINGERPRINT);
            values.insert(
                ":fingerprint".to_owned(),
                string_value(fingerprint.as_str()),
            );
        }
        let expression = format!("SET {assignments} REMOVE {}", name_list(&removed));
        attributes.extend(removed);
        let update = self.file_update(
            &lease.table_id,
            &failure.file_id,
            &expression,
            &attributes,
            values,
        )?;
        fenced_write(&self.client, STORE, lease_table, lease, vec![update]).await
    }

    async fn start_attempt(
        &self,
        lease: &Lease,
        file_ids: &[String],
        refresh_id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let values = Item::from([
            (":refresh_id".to_owned(), string_value(refresh_id)),
            (":token".to_owned(), number_value(lease.token)),
            (":files".to_owned(), number_value(file_ids.len())),
            (":at".to_owned(), string_value(timestamp(at))),
        ]);
        self.update_files_fenced(
            lease,
            file_ids,
            "SET #attempt_refresh_id = :refresh_id, #attempt_token = :token, \
             #attempt_files = :files, #attempted_at = :at",
            &ATTEMPT,
            &values,
        )
        .await
    }

    async fn end_attempt(&self, lease: &Lease, file_ids: &[String]) -> Result<(), StoreError> {
        let expression = format!("REMOVE {}", name_list(&ATTEMPT));
        self.update_files_fenced(lease, file_ids, &expression, &ATTEMPT, &Item::new())
            .await
    }

    async fn mark_superseded(
        &self,
        lease: &Lease,
        file: &SupersededFile,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let lease_table = self.lease_table()?;
        let removed = [&[attr::PENDING_TABLE_ID, attr::FAILURES][..], &ATTEMPT].concat();
        let expression = format!(
            "SET #status = :superseded, #superseded_by = :reason, #processed_at = :at, \
             #expires_at = :expires_at REMOVE {}",
            name_list(&removed)
        );
        let attributes = [
            &[
                attr::STATUS,
                attr::SUPERSEDED_BY,
                attr::PROCESSED_AT,
                attr::EXPIRES_AT,
            ][..],
            &removed,
        ]
        .concat();
        let update = self.file_update(
            &lease.table_id,
            &file.file_id,
            &expression,
            &attributes,
            Item::from([
                (
                    ":superseded".to_owned(),
                    string_value(FileStatus::Superseded.as_str()),
                ),
                (":reason".to_owned(), string_value(&file.reason)),
                (":at".to_owned(), string_value(timestamp(at))),
                (
                    ":expires_at".to_owned(),
                    number_value(expires_at.timestamp()),
                ),
            ]),
        )?;
        fenced_write(&self.client, STORE, lease_table, lease, vec![update]).await
    }

    async fn key_versions(
        &self,
        table_id: &str,
        order_keys: &[&str],
    ) -> Result<Vec<KeyVersion>, StoreError> {
        let (Some(first), Some(last)) = (order_keys.iter().min(), order_keys.iter().max()) else {
            return Ok(Vec::new());
        };
        let wanted: HashSet<&str> = order_keys.iter().copied().collect();
        let projected = [
            attr::TABLE_ID,
            attr::FILE_SK,
            attr::ORDER_KEY,
            attr::STATUS,
            attr::SEQUENCER,
            attr::LANDED_AT,
        ];
        let mut items = self
            .client
            .query()
            .table_name(&self.table_name)
            .key_condition_expression("#table_id = :table_id AND #file_sk BETWEEN :from AND :to")
            .projection_expression(name_list(&projected))
            .set_expression_attribute_names(Some(placeholders(&projected)))
            .expression_attribute_values(":table_id", string_value(table_id))
            .expression_attribute_values(":from", string_value(*first))
            // Every sort key of a version of `last` is `last#<version>`, below this bound.
            .expression_attribute_values(":to", string_value(format!("{last}#\u{10FFFF}")))
            .into_paginator()
            .items()
            .send();
        let mut versions = Vec::new();
        while let Some(item) = items.next().await {
            let item = item.map_err(|e| store_error(STORE, &e))?;
            let version = Self::key_version(&item)?;
            if wanted.contains(version.order_key.as_str()) {
                versions.push(version);
            }
        }
        Ok(versions)
    }
}
