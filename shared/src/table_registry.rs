//! The table registry: which tables exist, their refresh cadence, whether they are active, and
//! their configuration (a [`crate::lake::table_config::TableSpec`] as JSON).
//!
//! This module is the port; `adapters::dynamodb_table_registry` is the DynamoDB implementation
//! (the configuration table the CLI's `config apply` writes).

use std::future::Future;

use crate::state_store::StoreError;

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
