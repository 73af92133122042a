//! The table registry: which tables exist, their refresh cadence, whether they are active, and
//! their configuration (a [`crate::lake::table_config::TableSpec`] as JSON).
//!
//! This module is the port; `adapters::dynamodb_table_registry` is the DynamoDB implementation
//! (the configuration table the CLI's `config apply` writes).

use std::future::Future;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ports::state_store::StoreError;

/// A table as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredTable {
    /// `schema.table`.
    pub table_id: String,
    /// The cadence whose schedule refreshes it, e.g. `10min`.
    pub refresh_cadence: String,
    /// Inactive tables are kept (with their history) but not refreshed.
    pub active: bool,
    /// The table configuration, a `TableSpec` as JSON; validated by the processor, so a bad
    /// configuration fails only its own table.
    pub spec_json: String,
}

/// The port the processor reads table configurations through.
pub trait TableRegistry: Send + Sync {
    /// The registered table `table_id`, or `None` when no such table is registered.
    fn table(
        &self,
        table_id: &str,
    ) -> impl Future<Output = Result<Option<RegisteredTable>, StoreError>> + Send;
}

/// How the batch-manager orders a cadence's tables into batches. Serialized (manifests) by its
/// stored value, e.g. `largest_first`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableOrder {
    /// Balance the batches by pending bytes: largest table first into the lightest batch, so a
    /// huge table shares its batch with as few others as possible; the heaviest batch starts first.
    #[default]
    LargestFirst,
    /// Tables in id order, cut into consecutive batches (predictable, unbalanced).
    TableId,
}

impl TableOrder {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            TableOrder::LargestFirst => "largest_first",
            TableOrder::TableId => "table_id",
        }
    }

    /// The order whose stored value is `name`.
    pub fn from_name(name: &str) -> Option<TableOrder> {
        [TableOrder::LargestFirst, TableOrder::TableId]
            .into_iter()
            .find(|order| order.as_str() == name)
    }
}

/// A refresh cadence's batch settings, as configured. The schedule that starts its runs lives in
/// the stack; the manifest's copy of its expression is kept here for reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CadenceSettings {
    /// The cadence name, e.g. `10min`.
    pub name: String,
    /// The EventBridge schedule expression of the cadence (`rate(10 minutes)`, `cron(…)`), as
    /// the manifest states it; informational (the stack's schedule rule is what runs).
    pub schedule: Option<String>,
    /// Most tables per batch (one processor invocation refreshes them one after another).
    pub batch_size: u32,
    /// Most batches refreshed at once (the Map state's concurrency).
    pub max_concurrency: u32,
    /// How tables are ordered into batches.
    pub table_order: TableOrder,
    /// Whether tables with nothing to do are left out of the run.
    pub skip_idle: bool,
}

impl CadenceSettings {
    /// Largest batch: one processor invocation must finish its tables within one Lambda timeout.
    pub const MAX_BATCH_SIZE: u32 = 100;
    /// Largest concurrency: an inline Map state runs at most 40 iterations at once.
    pub const MAX_CONCURRENCY: u32 = 40;

    /// Checks the settings are usable; the message says what is wrong and the allowed range.
    pub fn validate(&self) -> Result<(), String> {
        self.problems()
            .first()
            .map_or(Ok(()), |problem| Err(problem.to_string()))
    }

    /// Every setting out of its allowed range (empty when the settings are usable).
    pub fn problems(&self) -> Vec<CadenceSettingsError> {
        [
            ("batch_size", self.batch_size, Self::MAX_BATCH_SIZE),
            (
                "max_concurrency",
                self.max_concurrency,
                Self::MAX_CONCURRENCY,
            ),
        ]
        .into_iter()
        .filter(|(_, value, max)| !(1..=*max).contains(value))
        .map(|(field, value, max)| CadenceSettingsError::OutOfRange {
            cadence: self.name.clone(),
            field,
            value,
            max,
        })
        .collect()
    }
}

/// Cadence settings Tributary cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CadenceSettingsError {
    /// A numeric setting is outside `1..=max`.
    #[error("cadence {cadence}: {field} is {value}; it must be between 1 and {max}")]
    OutOfRange {
        /// The cadence name.
        cadence: String,
        /// The setting, e.g. `batch_size`.
        field: &'static str,
        /// Its value.
        value: u32,
        /// The largest allowed value.
        max: u32,
    },
}

/// A table of a cadence, as the cadence index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CadenceTable {
    /// `schema.table`.
    pub table_id: String,
    /// Whether it is refreshed.
    pub active: bool,
}

/// The port the batch-manager reads cadences through.
pub trait CadenceRegistry: Send + Sync {
    /// The batch settings of cadence `name`, or `None` when no such cadence is configured.
    fn cadence(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<CadenceSettings>, StoreError>> + Send;

    /// Every table registered with cadence `name` (active or not), in table-id order, read with
    /// a Query of the cadence index (never a Scan).
    fn cadence_tables(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<CadenceTable>, StoreError>> + Send;
}
