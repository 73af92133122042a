//! The processing tracker in DynamoDB: per-table leases with fencing tokens, each table's last
//! outcome, and the history of refreshes.
//!
//! Table layout (docs/DESIGN.md §11), on-demand, partition key `table_id` (S) = `schema.table`,
//! sort key `record` (S):
//! - the lease and state item, `record = "TABLE"` ([`TABLE_RECORD`]):
//!   - `lease_owner` (S): the holder, absent while the lease is free;
//!   - `lease_expires_at` (N, epoch milliseconds): when the lease lapses, absent while free;
//!   - `fencing_token` (N): increased by every acquisition, never reset;
//!   - `last_refresh_id`, `last_outcome`, `last_error` (S; `last_error` absent when none),
//!     `last_started_at`, `last_finished_at` (S, RFC 3339 with milliseconds), `last_files`,
//!     `last_inserted`, `last_updated`, `last_deleted`, `last_ignored` (N): the last released
//!     refresh;
//!   - `updated_at` (S, RFC 3339): the last acquisition or release;
//! - one history item per refresh, `record = "REFRESH#<started_at>#<refresh_id>"` (started_at as
//!   RFC 3339 with milliseconds, so a table's history sorts in time order): `refresh_id`,
//!   `owner`, `started_at`, `finished_at`, `outcome`, `error` (when any) (S); `files` (L of S, the
//!   first [`MAX_HISTORY_FILES`] tracker ids, with `files_truncated` (BOOL) true when more were
//!   applied); `file_count`, `inserted`, `updated`, `deleted`, `ignored`, `superseded`,
//!   `files_superseded`, `bytes_read`, `bytes_written`, `partitions_rewritten`,
//!   `snapshot_version` (when any) (N; `superseded` and `files_superseded` read as 0 when absent,
//!   in items written before they existed); `expires_at` (N, epoch seconds), the TTL attribute.
//!
//! Protocol: the lease is taken with an `UpdateItem` conditional on
//! `attribute_not_exists(lease_owner) OR lease_expires_at < now`, which also increases
//! `fencing_token`. Every later write of the refresh — here and in the file tracker — is
//! conditional on `lease_owner = owner AND fencing_token = token` (a plain condition, or a
//! `ConditionCheck` in a transaction, see [`fenced_write`]); when it fails, the lease was taken
//! over and the write is reported as [`StoreError::LeaseLost`], having changed nothing.

use std::collections::HashMap;
use std::iter;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ConditionCheck, KeysAndAttributes, Put, ReturnValue,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use chrono::{DateTime, Utc};

use crate::adapters::dynamodb::{
    Item, ItemReader, conditional_write, invalid_request, number_value, placeholders, store_error,
    string_value, timestamp,
};
use crate::adapters::local_stack::{SetupError, create_dynamodb_table};
use crate::ports::processing_tracker::{
    LastOutcomes, Lease, LeaseGrant, ProcessingTracker, RefreshOutcomeKind, RefreshRecord,
    RefreshTotals,
};
use crate::ports::state_store::StoreError;

/// Attribute names of processing-tracker items.
pub mod attr {
    /// Partition key: `schema.table`.
    pub const TABLE_ID: &str = "table_id";
    /// Sort key: `TABLE`, or `REFRESH#<started_at>#<refresh_id>` for history.
    pub const RECORD: &str = "record";
    /// The lease holder; absent while the lease is free.
    pub const LEASE_OWNER: &str = "lease_owner";
    /// When the lease lapses (epoch milliseconds); absent while the lease is free.
    pub const LEASE_EXPIRES_AT: &str = "lease_expires_at";
    /// The fencing token of the latest acquisition.
    pub const FENCING_TOKEN: &str = "fencing_token";
    /// The last released refresh's id.
    pub const LAST_REFRESH_ID: &str = "last_refresh_id";
    /// The last released refresh's outcome.
    pub const LAST_OUTCOME: &str = "last_outcome";
    /// The last released refresh's error; absent when none.
    pub const LAST_ERROR: &str = "last_error";
    /// When the last released refresh started.
    pub const LAST_STARTED_AT: &str = "last_started_at";
    /// When the last released refresh finished.
    pub const LAST_FINISHED_AT: &str = "last_finished_at";
    /// Files applied by the last released refresh.
    pub const LAST_FILES: &str = "last_files";
    /// Rows inserted by the last released refresh.
    pub const LAST_INSERTED: &str = "last_inserted";
    /// Rows updated by the last released refresh.
    pub const LAST_UPDATED: &str = "last_updated";
    /// Rows deleted by the last released refresh.
    pub const LAST_DELETED: &str = "last_deleted";
    /// Changes ignored by the last released refresh.
    pub const LAST_IGNORED: &str = "last_ignored";
    /// When the state item last changed hands.
    pub const UPDATED_AT: &str = "updated_at";
    /// History: the refresh id.
    pub const REFRESH_ID: &str = "refresh_id";
    /// History: the invocation that ran the refresh.
    pub const OWNER: &str = "owner";
    /// History: when the refresh started.
    pub const STARTED_AT: &str = "started_at";
    /// History: when the refresh ended.
    pub const FINISHED_AT: &str = "finished_at";
    /// History: how the refresh ended.
    pub const OUTCOME: &str = "outcome";
    /// History: why it failed or was skipped.
    pub const ERROR: &str = "error";
    /// History: tracker ids of the files (at most [`super::MAX_HISTORY_FILES`]).
    pub const FILES: &str = "files";
    /// History: true when `files` was cut short.
    pub const FILES_TRUNCATED: &str = "files_truncated";
    /// History: how many files the refresh applied.
    pub const FILE_COUNT: &str = "file_count";
    /// History: rows inserted.
    pub const INSERTED: &str = "inserted";
    /// History: rows updated.
    pub const UPDATED: &str = "updated";
    /// History: rows deleted.
    pub const DELETED: &str = "deleted";
    /// History: changes ignored.
    pub const IGNORED: &str = "ignored";
    /// History: changes superseded by a later change of their key in the same refresh.
    pub const SUPERSEDED: &str = "superseded";
    /// History: DMS files recorded superseded.
    pub const FILES_SUPERSEDED: &str = "files_superseded";
    /// History: bytes of DMS files read.
    pub const BYTES_READ: &str = "bytes_read";
    /// History: bytes of lake files written.
    pub const BYTES_WRITTEN: &str = "bytes_written";
    /// History: partitions rewritten or dropped.
    pub const PARTITIONS_REWRITTEN: &str = "partitions_rewritten";
    /// History: the lake snapshot committed or published.
    pub const SNAPSHOT_VERSION: &str = "snapshot_version";
    /// History: TTL attribute (epoch seconds).
    pub const EXPIRES_AT: &str = "expires_at";
}

/// Sort key of a table's lease and state item.
pub const TABLE_RECORD: &str = "TABLE";

/// Sort-key prefix of history items.
pub const HISTORY_PREFIX: &str = "REFRESH#";

/// Most file ids a history item lists (an item holds at most 400 KB).
pub const MAX_HISTORY_FILES: usize = 1000;

/// How errors name this store.
const STORE: &str = "the processing tracker";

/// The condition every fenced write puts on the state item.
const HELD: &str = "#lease_owner = :lease_owner AND #fencing_token = :fencing_token";

/// Cancellation reasons of a transaction that may succeed when repeated.
const TRANSIENT_REASONS: [&str; 3] = [
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
];

/// The key of a table's lease and state item.
fn state_key(table_id: &str) -> Item {
    Item::from([
        (attr::TABLE_ID.to_owned(), string_value(table_id)),
        (attr::RECORD.to_owned(), string_value(TABLE_RECORD)),
    ])
}

/// The names [`HELD`] uses.
fn held_names() -> HashMap<String, String> {
    placeholders(&[attr::LEASE_OWNER, attr::FENCING_TOKEN])
}

/// The values [`HELD`] uses for `lease`.
fn held_values(lease: &Lease) -> Item {
    Item::from([
        (":lease_owner".to_owned(), string_value(&lease.owner)),
        (":fencing_token".to_owned(), number_value(lease.token)),
    ])
}

fn lease_lost(lease: &Lease) -> StoreError {
    StoreError::LeaseLost {
        table_id: lease.table_id.clone(),
        token: lease.token,
    }
}

/// Writes `writes` in one transaction together with a check that `lease` is still held (its
/// state item in `lease_table` still names its owner and token). Fails with
/// [`StoreError::LeaseLost`], having written nothing, when the check fails. At most 99 writes.
pub async fn fenced_write(
    client: &Client,
    store: &'static str,
    lease_table: &str,
    lease: &Lease,
    writes: Vec<TransactWriteItem>,
) -> Result<(), StoreError> {
    let check = ConditionCheck::builder()
        .table_name(lease_table)
        .set_key(Some(state_key(&lease.table_id)))
        .condition_expression(HELD)
        .set_expression_attribute_names(Some(held_names()))
        .set_expression_attribute_values(Some(held_values(lease)))
        .build()
        .map_err(|e| invalid_request(store, &e))?;
    let items = iter::once(TransactWriteItem::builder().condition_check(check).build())
        .chain(writes)
        .collect();
    let result = client
        .transact_write_items()
        .set_transact_items(Some(items))
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) => Err(match e.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                cancelled_error(store, lease, cancelled.cancellation_reasons())
            }
            _ => store_error(store, &e),
        }),
    }
}

/// The error of a fenced transaction cancelled for `reasons` (one per item, the lease check
/// first).
fn cancelled_error(
    store: &'static str,
    lease: &Lease,
    reasons: &[CancellationReason],
) -> StoreError {
    if reasons.first().and_then(CancellationReason::code) == Some("ConditionalCheckFailed") {
        return lease_lost(lease);
    }
    let detail = reasons
        .iter()
        .enumerate()
        .filter_map(|(index, reason)| {
            let code = reason.code().filter(|code| *code != "None")?;
            Some(format!(
                "item {index}: {code} {}",
                reason.message().unwrap_or_default()
            ))
        })
        .collect::<Vec<_>>()
        .join("; ");
    let transient = reasons.iter().any(|reason| {
        reason
            .code()
            .is_some_and(|c| TRANSIENT_REASONS.contains(&c))
    });
    if transient {
        StoreError::Throttled {
            store,
            detail: format!("transaction cancelled: {detail}"),
        }
    } else {
        StoreError::Refused {
            store,
            code: "TransactionCanceledException".to_owned(),
            message: detail,
        }
    }
}

/// A table's lease and last outcome, as its state item holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableState {
    /// The lease holder, `None` while the lease is free.
    pub lease_owner: Option<String>,
    /// When the holder's lease lapses.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// When the holder took the lease (`updated_at` while a lease is held).
    pub lease_acquired_at: Option<DateTime<Utc>>,
    /// The token of the latest acquisition (0 before the first).
    pub fencing_token: u64,
    /// The last released refresh's outcome.
    pub last_outcome: Option<RefreshOutcomeKind>,
    /// The last released refresh's error.
    pub last_error: Option<String>,
    /// The last released refresh's id.
    pub last_refresh_id: Option<String>,
}

impl TableState {
    fn from_item(item: &Item) -> Result<Self, StoreError> {
        let read = ItemReader::new(STORE, item, &[attr::TABLE_ID, attr::RECORD]);
        let owned = |value: Option<&str>| value.map(str::to_owned);
        let lease_owner = owned(read.optional(attr::LEASE_OWNER, ItemReader::string)?);
        let lease_acquired_at = match lease_owner {
            Some(_) => read.optional(attr::UPDATED_AT, ItemReader::time)?,
            None => None,
        };
        Ok(Self {
            lease_owner,
            lease_expires_at: read.optional(attr::LEASE_EXPIRES_AT, ItemReader::epoch_millis)?,
            lease_acquired_at,
            fencing_token: read
                .optional(attr::FENCING_TOKEN, ItemReader::number)?
                .unwrap_or(0),
            last_outcome: read.optional(attr::LAST_OUTCOME, |read, name| {
                read.named(name, RefreshOutcomeKind::from_name)
            })?,
            last_error: owned(read.optional(attr::LAST_ERROR, ItemReader::string)?),
            last_refresh_id: owned(read.optional(attr::LAST_REFRESH_ID, ItemReader::string)?),
        })
    }
}

/// [`ProcessingTracker`] on a DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoDbProcessingTracker {
    client: Client,
    table_name: String,
}

impl DynamoDbProcessingTracker {
    /// A tracker on `table_name`.
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        Self {
            client,
            table_name: table_name.into(),
        }
    }

    /// The stack template's logical id of this table (`infra/template.yaml`).
    pub const STACK_RESOURCE: &str = "ProcessingTable";

    /// Creates the table as the stack template defines it; used by the local environment and
    /// tests. An existing table is left as it is.
    pub async fn create_table(client: &Client, table_name: &str) -> Result<(), SetupError> {
        create_dynamodb_table(client, Self::STACK_RESOURCE, table_name).await
    }

    /// The table's lease and last outcome (a consistent read), `None` before its first lease.
    pub async fn table_state(&self, table_id: &str) -> Result<Option<TableState>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table_name)
            .set_key(Some(state_key(table_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(STORE, &e))?;
        output.item().map(TableState::from_item).transpose()
    }

    /// The table's refresh history, oldest first.
    pub async fn history(&self, table_id: &str) -> Result<Vec<RefreshRecord>, StoreError> {
        self.history_page(table_id, true, None).await
    }

    /// The table's `limit` latest refreshes, newest first.
    pub async fn latest_history(
        &self,
        table_id: &str,
        limit: usize,
    ) -> Result<Vec<RefreshRecord>, StoreError> {
        self.history_page(table_id, false, Some(limit)).await
    }

    async fn history_page(
        &self,
        table_id: &str,
        oldest_first: bool,
        limit: Option<usize>,
    ) -> Result<Vec<RefreshRecord>, StoreError> {
        let mut items = self
            .client
            .query()
            .table_name(&self.table_name)
            .key_condition_expression("#table_id = :table_id AND begins_with(#record, :prefix)")
            .set_expression_attribute_names(Some(placeholders(&[attr::TABLE_ID, attr::RECORD])))
            .expression_attribute_values(":table_id", string_value(table_id))
            .expression_attribute_values(":prefix", string_value(HISTORY_PREFIX))
            .scan_index_forward(oldest_first)
            .set_limit(limit.map(|n| i32::try_from(n).unwrap_or(i32::MAX)))
            .into_paginator()
            .items()
            .send();
        let mut records = Vec::new();
        while let Some(item) = items.next().await {
            if limit.is_some_and(|limit| records.len() >= limit) {
                break;
            }
            let item = item.map_err(|e| store_error(STORE, &e))?;
            records.push(Self::refresh_record(&item)?);
        }
        Ok(records)
    }

    fn history_item(record: &RefreshRecord) -> Item {
        let totals = &record.totals;
        let files = record
            .files
            .iter()
            .take(MAX_HISTORY_FILES)
            .map(string_value)
            .collect();
        let mut item: Item = [
            (attr::TABLE_ID, string_value(&record.table_id)),
            (
                attr::RECORD,
                string_value(format!(
                    "{HISTORY_PREFIX}{}#{}",
                    timestamp(record.started_at),
                    record.refresh_id
                )),
            ),
            (attr::REFRESH_ID, string_value(&record.refresh_id)),
            (attr::OWNER, string_value(&record.owner)),
            (attr::STARTED_AT, string_value(timestamp(record.started_at))),
            (
                attr::FINISHED_AT,
                string_value(timestamp(record.finished_at)),
            ),
            (attr::OUTCOME, string_value(record.outcome.as_str())),
            (attr::FILES, AttributeValue::L(files)),
            (attr::FILE_COUNT, number_value(totals.files)),
            (attr::INSERTED, number_value(totals.inserted)),
            (attr::UPDATED, number_value(totals.updated)),
            (attr::DELETED, number_value(totals.deleted)),
            (attr::IGNORED, number_value(totals.ignored)),
            (attr::SUPERSEDED, number_value(totals.superseded)),
            (
                attr::FILES_SUPERSEDED,
                number_value(totals.files_superseded),
            ),
            (attr::BYTES_READ, number_value(totals.bytes_read)),
            (attr::BYTES_WRITTEN, number_value(totals.bytes_written)),
            (
                attr::PARTITIONS_REWRITTEN,
                number_value(totals.partitions_rewritten),
            ),
            (
                attr::EXPIRES_AT,
                number_value(record.expires_at.timestamp()),
            ),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        if let Some(error) = &record.error {
            item.insert(attr::ERROR.to_owned(), string_value(error));
        }
        if let Some(version) = record.snapshot_version {
            item.insert(attr::SNAPSHOT_VERSION.to_owned(), number_value(version));
        }
        if record.files.len() > MAX_HISTORY_FILES {
            item.insert(attr::FILES_TRUNCATED.to_owned(), AttributeValue::Bool(true));
        }
        item
    }

    fn refresh_record(item: &Item) -> Result<RefreshRecord, StoreError> {
        let read = ItemReader::new(STORE, item, &[attr::TABLE_ID, attr::RECORD]);
        Ok(RefreshRecord {
            table_id: read.string(attr::TABLE_ID)?.to_owned(),
            refresh_id: read.string(attr::REFRESH_ID)?.to_owned(),
            owner: read.string(attr::OWNER)?.to_owned(),
            started_at: read.time(attr::STARTED_AT)?,
            finished_at: read.time(attr::FINISHED_AT)?,
            outcome: read.named(attr::OUTCOME, RefreshOutcomeKind::from_name)?,
            error: read
                .optional(attr::ERROR, ItemReader::string)?
                .map(str::to_owned),
            files: read.strings(attr::FILES)?,
            totals: RefreshTotals {
                files: read.number(attr::FILE_COUNT)?,
                inserted: read.number(attr::INSERTED)?,
                updated: read.number(attr::UPDATED)?,
                deleted: read.number(attr::DELETED)?,
                ignored: read.number(attr::IGNORED)?,
                superseded: read
                    .optional(attr::SUPERSEDED, ItemReader::number)?
                    .unwrap_or(0),
                files_superseded: read
                    .optional(attr::FILES_SUPERSEDED, ItemReader::number)?
                    .unwrap_or(0),
                bytes_read: read.number(attr::BYTES_READ)?,
                bytes_written: read.number(attr::BYTES_WRITTEN)?,
                partitions_rewritten: read.number(attr::PARTITIONS_REWRITTEN)?,
            },
            snapshot_version: read.optional(attr::SNAPSHOT_VERSION, ItemReader::number)?,
            expires_at: read.epoch_seconds(attr::EXPIRES_AT)?,
        })
    }

    /// Updates the state item of `lease`'s table while `lease` is still held: `expression` names
    /// `attributes` as `#<name>` and uses `values`.
    async fn update_held(
        &self,
        lease: &Lease,
        expression: &str,
        attributes: &[&str],
        values: Item,
    ) -> Result<(), StoreError> {
        let mut names = held_names();
        names.extend(placeholders(attributes));
        let mut all_values = held_values(lease);
        all_values.extend(values);
        let result = self
            .client
            .update_item()
            .table_name(&self.table_name)
            .set_key(Some(state_key(&lease.table_id)))
            .update_expression(expression)
            .condition_expression(HELD)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(all_values))
            .send()
            .await;
        conditional_write(STORE, result)?
            .map(|_| ())
            .ok_or_else(|| lease_lost(lease))
    }
}

/// The answer to a lease request that found the lease held: the holder, as the state item that
/// failed the condition names it.
fn busy(table_id: &str, item: Option<&Item>) -> Result<LeaseGrant, StoreError> {
    let Some(item) = item else {
        return Err(StoreError::Refused {
            store: STORE,
            code: "ConditionalCheckFailedException".to_owned(),
            message: format!(
                "the lease on {table_id} is held, but the response did not name its holder"
            ),
        });
    };
    let read = ItemReader::new(STORE, item, &[attr::TABLE_ID, attr::RECORD]);
    Ok(LeaseGrant::Busy {
        owner: read.string(attr::LEASE_OWNER)?.to_owned(),
        expires_at: read.epoch_millis(attr::LEASE_EXPIRES_AT)?,
    })
}

/// Most keys one BatchGetItem may ask for.
const BATCH_GET_KEYS: usize = 100;

/// Rounds of re-asking for keys DynamoDB left unprocessed (throttling) before giving up.
const BATCH_GET_ROUNDS: u32 = 8;

impl LastOutcomes for DynamoDbProcessingTracker {
    async fn last_outcomes(
        &self,
        table_ids: &[String],
    ) -> Result<HashMap<String, RefreshOutcomeKind>, StoreError> {
        let mut outcomes = HashMap::new();
        for chunk in table_ids.chunks(BATCH_GET_KEYS) {
            let mut keys: Vec<Item> = chunk.iter().map(|id| state_key(id)).collect();
            for round in 0..=BATCH_GET_ROUNDS {
                if keys.is_empty() {
                    break;
                }
                if round == BATCH_GET_ROUNDS {
                    return Err(StoreError::Throttled {
                        store: STORE,
                        detail: format!(
                            "{} state items still unread after {BATCH_GET_ROUNDS} BatchGetItem rounds",
                            keys.len()
                        ),
                    });
                }
                if round > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(50 << round)).await;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut keys)))
                    .projection_expression("#table_id, #record, #last_outcome")
                    .set_expression_attribute_names(Some(placeholders(&[
                        attr::TABLE_ID,
                        attr::RECORD,
                        attr::LAST_OUTCOME,
                    ])))
                    .build()
                    .map_err(|e| invalid_request(STORE, &e))?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table_name, request)
                    .send()
                    .await
                    .map_err(|e| store_error(STORE, &e))?;
                for item in output
                    .responses
                    .as_ref()
                    .and_then(|r| r.get(&self.table_name))
                    .into_iter()
                    .flatten()
                {
                    let read = ItemReader::new(STORE, item, &[attr::TABLE_ID, attr::RECORD]);
                    if let Some(outcome) = read.optional(attr::LAST_OUTCOME, |read, name| {
                        read.named(name, RefreshOutcomeKind::from_name)
                    })? {
                        outcomes.insert(read.string(attr::TABLE_ID)?.to_owned(), outcome);
                    }
                }
                keys = output
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table_name))
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
        }
        Ok(outcomes)
    }
}

impl ProcessingTracker for DynamoDbProcessingTracker {
    async fn acquire(
        &self,
        table_id: &str,
        owner: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<LeaseGrant, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table_name)
            .set_key(Some(state_key(table_id)))
            .update_expression(
                "SET #lease_owner = :owner, #lease_expires_at = :expires_at, \
                 #fencing_token = if_not_exists(#fencing_token, :zero) + :one, \
                 #updated_at = :now",
            )
            .condition_expression(
                "attribute_not_exists(#lease_owner) OR #lease_expires_at < :now_ms",
            )
            .set_expression_attribute_names(Some(placeholders(&[
                attr::LEASE_OWNER,
                attr::LEASE_EXPIRES_AT,
                attr::FENCING_TOKEN,
                attr::UPDATED_AT,
            ])))
            .expression_attribute_values(":owner", string_value(owner))
            .expression_attribute_values(":expires_at", number_value(expires_at.timestamp_millis()))
            .expression_attribute_values(":zero", number_value(0))
            .expression_attribute_values(":one", number_value(1))
            .expression_attribute_values(":now", string_value(timestamp(now)))
            .expression_attribute_values(":now_ms", number_value(now.timestamp_millis()))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let previous = match result {
            Ok(output) => output.attributes().map(TableState::from_item).transpose()?,
            Err(e) => {
                return match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                        busy(table_id, failed.item())
                    }
                    _ => Err(store_error(STORE, &e)),
                };
            }
        };
        let (previous_token, took_over_from) =
            previous.map_or((0, None), |state| (state.fencing_token, state.lease_owner));
        Ok(LeaseGrant::Acquired {
            lease: Lease {
                table_id: table_id.to_owned(),
                owner: owner.to_owned(),
                token: previous_token + 1,
                expires_at,
            },
            took_over_from,
        })
    }

    async fn confirm(&self, lease: &Lease, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        self.update_held(
            lease,
            "SET #lease_expires_at = :expires_at",
            &[attr::LEASE_EXPIRES_AT],
            Item::from([(
                ":expires_at".to_owned(),
                number_value(expires_at.timestamp_millis()),
            )]),
        )
        .await
    }

    async fn record_refresh(
        &self,
        lease: Option<&Lease>,
        record: &RefreshRecord,
    ) -> Result<(), StoreError> {
        let item = Self::history_item(record);
        let Some(lease) = lease else {
            return self
                .client
                .put_item()
                .table_name(&self.table_name)
                .set_item(Some(item))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| store_error(STORE, &e));
        };
        let put = Put::builder()
            .table_name(&self.table_name)
            .set_item(Some(item))
            .build()
            .map_err(|e| invalid_request(STORE, &e))?;
        fenced_write(
            &self.client,
            STORE,
            &self.table_name,
            lease,
            vec![TransactWriteItem::builder().put(put).build()],
        )
        .await
    }

    async fn release(&self, lease: &Lease, last: &RefreshRecord) -> Result<(), StoreError> {
        let totals = &last.totals;
        let mut set = vec![
            (attr::LAST_REFRESH_ID, string_value(&last.refresh_id)),
            (attr::LAST_OUTCOME, string_value(last.outcome.as_str())),
            (
                attr::LAST_STARTED_AT,
                string_value(timestamp(last.started_at)),
            ),
            (
                attr::LAST_FINISHED_AT,
                string_value(timestamp(last.finished_at)),
            ),
            (attr::LAST_FILES, number_value(totals.files)),
            (attr::LAST_INSERTED, number_value(totals.inserted)),
            (attr::LAST_UPDATED, number_value(totals.updated)),
            (attr::LAST_DELETED, number_value(totals.deleted)),
            (attr::LAST_IGNORED, number_value(totals.ignored)),
            (attr::UPDATED_AT, string_value(timestamp(Utc::now()))),
        ];
        let mut remove = vec![attr::LEASE_OWNER, attr::LEASE_EXPIRES_AT];
        match &last.error {
            Some(error) => set.push((attr::LAST_ERROR, string_value(error))),
            None => remove.push(attr::LAST_ERROR),
        }
        let expression = format!(
            "SET {} REMOVE {}",
            set.iter()
                .map(|(name, _)| format!("#{name} = :{name}"))
                .collect::<Vec<_>>()
                .join(", "),
            remove
                .iter()
                .map(|name| format!("#{name}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let attributes: Vec<&str> = set.iter().map(|(name, _)| *name).chain(remove).collect();
        let values = set
            .into_iter()
            .map(|(name, value)| (format!(":{name}"), value))
            .collect();
        self.update_held(lease, &expression, &attributes, values)
            .await
    }
}

#[cfg(test)]
#[path = "dynamodb_processing_tracker_test.rs"]
mod tests;
