//! The table registry in DynamoDB (the configuration table the CLI's `config apply` writes).
//!
//! Table layout, on-demand, partition key `config_id` (S). The key space is shared by kinds of
//! configuration item, told apart by a prefix; a table is the item `config_id = "table#<table_id>"`
//! with:
//! - `table_id` (S): `schema.table`;
//! - `refresh_cadence` (S): the cadence whose schedule refreshes it, e.g. `10min`;
//! - `active` (BOOL): inactive tables keep their history but are not refreshed;
//! - `spec` (S): the table configuration, a `TableSpec` as JSON;
//! - `updated_at` (S, RFC 3339): when it was last written.
//!
//! The global secondary index `tables-by-cadence` on (`refresh_cadence`, `table_id`), projecting
//! every attribute, lists the tables of one cadence with a Query.
//!
//! A cadence's batch settings are the item `config_id = "cadence#<name>"` with `cadence` (S),
//! `batch_size` (N), `max_concurrency` (N), `table_order` (S, `largest_first` | `table_id`,
//! default `largest_first`), `skip_idle` (BOOL, default true), `schedule` (S, optional: the
//! EventBridge schedule expression the manifest states) and `updated_at`. It has no
//! `refresh_cadence` attribute, so it never appears in the cadence index.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;

use crate::adapters::dynamodb::{
    Item, ItemReader, number_value, placeholders, store_error, string_value, timestamp,
};
use crate::adapters::local_stack::{SetupError, create_dynamodb_table};
use crate::ports::state_store::StoreError;
use crate::ports::table_registry::{
    CadenceRegistry, CadenceSettings, CadenceTable, RegisteredTable, TableOrder, TableRegistry,
};

/// Attribute names of registry items.
pub mod attr {
    /// Partition key: `table#<table_id>` for a table.
    pub const CONFIG_ID: &str = "config_id";
    /// `schema.table`.
    pub const TABLE_ID: &str = "table_id";
    /// The cadence whose schedule refreshes the table.
    pub const REFRESH_CADENCE: &str = "refresh_cadence";
    /// Whether the table is refreshed.
    pub const ACTIVE: &str = "active";
    /// The table configuration (JSON).
    pub const SPEC: &str = "spec";
    /// When the item was last written (RFC 3339, UTC).
    pub const UPDATED_AT: &str = "updated_at";
    /// Cadence items: the cadence name.
    pub const CADENCE: &str = "cadence";
    /// Cadence items: most tables per batch.
    pub const BATCH_SIZE: &str = "batch_size";
    /// Cadence items: most batches at once.
    pub const MAX_CONCURRENCY: &str = "max_concurrency";
    /// Cadence items: how tables are ordered into batches.
    pub const TABLE_ORDER: &str = "table_order";
    /// Cadence items: whether idle tables are left out of runs.
    pub const SKIP_IDLE: &str = "skip_idle";
    /// Cadence items: the EventBridge schedule expression (optional, informational).
    pub const SCHEDULE: &str = "schedule";
}

/// Name of the index of tables by refresh cadence.
pub const CADENCE_INDEX: &str = "tables-by-cadence";

/// Prefix of the `config_id` of table items.
pub const TABLE_PREFIX: &str = "table#";

/// Prefix of the `config_id` of cadence items.
pub const CADENCE_PREFIX: &str = "cadence#";

/// How errors name this store.
const STORE: &str = "the table registry";

/// The key of table `table_id`'s item.
fn table_key(table_id: &str) -> String {
    format!("{TABLE_PREFIX}{table_id}")
}

/// The key of cadence `name`'s item.
fn cadence_key(name: &str) -> String {
    format!("{CADENCE_PREFIX}{name}")
}

/// [`TableRegistry`] and [`CadenceRegistry`] on a DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoDbTableRegistry {
    client: Client,
    table_name: String,
}

impl DynamoDbTableRegistry {
    /// A registry on `table_name`.
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        Self {
            client,
            table_name: table_name.into(),
        }
    }

    /// The stack template's logical id of this table (`infra/template.yaml`).
    pub const STACK_RESOURCE: &str = "ConfigTable";

    /// Creates the table as the stack template defines it; used by the local environment and
    /// tests. An existing table is left as it is.
    pub async fn create_table(client: &Client, table_name: &str) -> Result<(), SetupError> {
        create_dynamodb_table(client, Self::STACK_RESOURCE, table_name).await
    }

    /// Registers `table`, replacing its previous registration.
    pub async fn put_table(&self, table: &RegisteredTable) -> Result<(), StoreError> {
        let item = Item::from([
            (
                attr::CONFIG_ID.to_owned(),
                string_value(table_key(&table.table_id)),
            ),
            (attr::TABLE_ID.to_owned(), string_value(&table.table_id)),
            (
                attr::REFRESH_CADENCE.to_owned(),
                string_value(&table.refresh_cadence),
            ),
            (attr::ACTIVE.to_owned(), AttributeValue::Bool(table.active)),
            (attr::SPEC.to_owned(), string_value(&table.spec_json)),
            (
                attr::UPDATED_AT.to_owned(),
                string_value(timestamp(Utc::now())),
            ),
        ]);
        self.put(item).await
    }

    /// Stores cadence `settings`, replacing the cadence's previous settings.
    pub async fn put_cadence(&self, settings: &CadenceSettings) -> Result<(), StoreError> {
        let mut item = Item::from([
            (
                attr::CONFIG_ID.to_owned(),
                string_value(cadence_key(&settings.name)),
            ),
            (attr::CADENCE.to_owned(), string_value(&settings.name)),
            (
                attr::BATCH_SIZE.to_owned(),
                number_value(settings.batch_size),
            ),
            (
                attr::MAX_CONCURRENCY.to_owned(),
                number_value(settings.max_concurrency),
            ),
            (
                attr::TABLE_ORDER.to_owned(),
                string_value(settings.table_order.as_str()),
            ),
            (
                attr::SKIP_IDLE.to_owned(),
                AttributeValue::Bool(settings.skip_idle),
            ),
            (
                attr::UPDATED_AT.to_owned(),
                string_value(timestamp(Utc::now())),
            ),
        ]);
        if let Some(schedule) = &settings.schedule {
            item.insert(attr::SCHEDULE.to_owned(), string_value(schedule));
        }
        self.put(item).await
    }

    /// Every registered table (active or not), in table-id order. Reads the whole config table
    /// with a paginated Scan: it holds one item per table and cadence, and only the CLI lists it.
    pub async fn all_tables(&self) -> Result<Vec<RegisteredTable>, StoreError> {
        let mut tables = self
            .scan_prefix(TABLE_PREFIX)
            .await?
            .iter()
            .map(registered_table)
            .collect::<Result<Vec<_>, _>>()?;
        tables.sort_by(|a, b| a.table_id.cmp(&b.table_id));
        Ok(tables)
    }

    /// Every configured cadence, in name order (a paginated Scan, like [`Self::all_tables`]).
    pub async fn all_cadences(&self) -> Result<Vec<CadenceSettings>, StoreError> {
        let mut cadences = self
            .scan_prefix(CADENCE_PREFIX)
            .await?
            .iter()
            .map(cadence_settings)
            .collect::<Result<Vec<_>, _>>()?;
        cadences.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(cadences)
    }

    async fn scan_prefix(&self, prefix: &str) -> Result<Vec<Item>, StoreError> {
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table_name)
            .consistent_read(true)
            .filter_expression("begins_with(#config_id, :prefix)")
            .set_expression_attribute_names(Some(placeholders(&[attr::CONFIG_ID])))
            .expression_attribute_values(":prefix", string_value(prefix))
            .into_paginator()
            .send();
        let mut items = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_error(STORE, &e))?;
            items.extend(page.items().iter().cloned());
        }
        Ok(items)
    }

    async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table_name)
            .set_item(Some(item))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| store_error(STORE, &e))
    }

    async fn get(&self, config_id: String) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table_name)
            .key(attr::CONFIG_ID, string_value(config_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(STORE, &e))?;
        Ok(output.item)
    }
}

impl CadenceRegistry for DynamoDbTableRegistry {
    async fn cadence(&self, name: &str) -> Result<Option<CadenceSettings>, StoreError> {
        let Some(item) = self.get(cadence_key(name)).await? else {
            return Ok(None);
        };
        cadence_settings(&item).map(Some)
    }

    async fn cadence_tables(&self, name: &str) -> Result<Vec<CadenceTable>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table_name)
            .index_name(CADENCE_INDEX)
            .key_condition_expression("#refresh_cadence = :cadence")
            .projection_expression("#config_id, #table_id, #active")
            .set_expression_attribute_names(Some(placeholders(&[
                attr::REFRESH_CADENCE,
                attr::CONFIG_ID,
                attr::TABLE_ID,
                attr::ACTIVE,
            ])))
            .expression_attribute_values(":cadence", string_value(name))
            .into_paginator()
            .send();
        let mut tables = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_error(STORE, &e))?;
            for item in page.items() {
                let read = ItemReader::new(STORE, item, &[attr::CONFIG_ID]);
                tables.push(CadenceTable {
                    table_id: read.string(attr::TABLE_ID)?.to_owned(),
                    active: read.boolean(attr::ACTIVE)?,
                });
            }
        }
        Ok(tables)
    }
}

impl TableRegistry for DynamoDbTableRegistry {
    async fn table(&self, table_id: &str) -> Result<Option<RegisteredTable>, StoreError> {
        let Some(item) = self.get(table_key(table_id)).await? else {
            return Ok(None);
        };
        registered_table(&item).map(Some)
    }
}

/// Reads a table item.
fn registered_table(item: &Item) -> Result<RegisteredTable, StoreError> {
    let read = ItemReader::new(STORE, item, &[attr::CONFIG_ID]);
    Ok(RegisteredTable {
        table_id: read.string(attr::TABLE_ID)?.to_owned(),
        refresh_cadence: read.string(attr::REFRESH_CADENCE)?.to_owned(),
        active: read.boolean(attr::ACTIVE)?,
        spec_json: read.string(attr::SPEC)?.to_owned(),
    })
}

/// Reads a cadence item.
fn cadence_settings(item: &Item) -> Result<CadenceSettings, StoreError> {
    let read = ItemReader::new(STORE, item, &[attr::CONFIG_ID]);
    Ok(CadenceSettings {
        name: read.string(attr::CADENCE)?.to_owned(),
        schedule: read.optional(attr::SCHEDULE, |read, name| {
            read.string(name).map(str::to_owned)
        })?,
        batch_size: read.number(attr::BATCH_SIZE)?,
        max_concurrency: read.number(attr::MAX_CONCURRENCY)?,
        table_order: read
            .optional(attr::TABLE_ORDER, |read, name| {
                read.named(name, TableOrder::from_name)
            })?
            .unwrap_or_default(),
        skip_idle: read
            .optional(attr::SKIP_IDLE, ItemReader::boolean)?
            .unwrap_or(true),
    })
}
