//! An in-memory table registry: cadences and registered tables, for the processor (a table's
//! configuration) and the batch-manager (a cadence's settings and tables).

use std::collections::{BTreeMap, HashMap};

use crate::ports::state_store::StoreError;
use crate::ports::table_registry::{
    CadenceRegistry, CadenceSettings, CadenceTable, RegisteredTable, TableRegistry,
};

/// Cadences and tables as registered; arrange them through the fields.
#[derive(Debug, Default)]
pub struct MemoryRegistry {
    /// Batch settings by cadence name.
    pub cadences: HashMap<String, CadenceSettings>,
    /// Registered tables by id (listed in id order, as the cadence index lists them).
    pub tables: BTreeMap<String, RegisteredTable>,
}

impl MemoryRegistry {
    /// Registers `table_id` with `cadence`, active or not, configured by `spec_json`.
    pub fn register(&mut self, table_id: &str, cadence: &str, active: bool, spec_json: &str) {
        let table = RegisteredTable {
            table_id: table_id.to_owned(),
            refresh_cadence: cadence.to_owned(),
            active,
            spec_json: spec_json.to_owned(),
        };
        self.tables.insert(table_id.to_owned(), table);
    }
}

impl TableRegistry for MemoryRegistry {
    async fn table(&self, table_id: &str) -> Result<Option<RegisteredTable>, StoreError> {
        Ok(self.tables.get(table_id).cloned())
    }
}

impl CadenceRegistry for MemoryRegistry {
    async fn cadence(&self, name: &str) -> Result<Option<CadenceSettings>, StoreError> {
        Ok(self.cadences.get(name).cloned())
    }

    async fn cadence_tables(&self, name: &str) -> Result<Vec<CadenceTable>, StoreError> {
        Ok(self
            .tables
            .values()
            .filter(|table| table.refresh_cadence == name)
            .map(|table| CadenceTable {
                table_id: table.table_id.clone(),
                active: table.active,
            })
            .collect())
    }
}
