//! An in-memory catalog behaving like Glue, recording the calls made to it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::ports::catalog::{
    Catalog, CatalogError, CatalogPartition, MAX_PARTITIONS_PER_CALL, PartitionFailure,
    TableDefinition, VersionedTable,
};

/// A call made to the catalog, with the number of partitions it carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `ensure_database`.
    EnsureDatabase,
    /// `table`.
    Table,
    /// `create_table`.
    CreateTable,
    /// `update_table`.
    UpdateTable,
    /// `update_table_at` (conditional on the table's version).
    UpdateTableAt,
    /// `partitions`.
    Partitions,
    /// `create_partitions` of this many.
    CreatePartitions(usize),
    /// `update_partitions` of this many.
    UpdatePartitions(usize),
    /// `delete_partitions` of this many.
    DeletePartitions(usize),
}

impl Call {
    /// Whether the call writes partitions.
    pub fn writes_partitions(self) -> bool {
        matches!(
            self,
            Call::CreatePartitions(_) | Call::UpdatePartitions(_) | Call::DeletePartitions(_)
        )
    }
}

/// What the in-memory catalog holds, and how it is told to misbehave.
#[derive(Debug, Default)]
pub struct CatalogState {
    /// Databases.
    pub databases: HashSet<String>,
    /// Tables by (database, name).
    pub tables: HashMap<(String, String), TableDefinition>,
    /// Partitions per table: values → location.
    pub partitions: HashMap<(String, String), BTreeMap<Vec<String>, String>>,
    /// Every call, in order.
    pub calls: Vec<Call>,
    /// Partitions the next listing leaves out (as if created concurrently after it).
    pub hidden_once: HashSet<Vec<String>>,
    /// Partitions the next listing adds (as if deleted concurrently after it).
    pub phantoms_once: Vec<CatalogPartition>,
    /// Every write of these values fails with this error code.
    pub rejected: HashMap<Vec<String>, String>,
    /// Version of each table: 1 when created, one more on every update.
    pub versions: HashMap<(String, String), u64>,
    /// A definition another writer stores just before the next conditional update (which then
    /// names an outdated version and is a conflict).
    pub interloper_once: Option<TableDefinition>,
}

/// An in-memory catalog behaving like Glue: creating an existing partition fails with
/// `AlreadyExistsException`, updating or deleting a missing one with `EntityNotFoundException`;
/// requests for a missing table or over [`MAX_PARTITIONS_PER_CALL`] partitions are refused.
#[derive(Debug, Default)]
pub struct MemoryCatalog {
    state: Mutex<CatalogState>,
}

fn key(table: &TableDefinition) -> (String, String) {
    (table.database.clone(), table.name.clone())
}

fn refused(operation: &'static str, code: &str) -> CatalogError {
    CatalogError::Refused {
        operation,
        code: code.to_owned(),
        message: format!("{operation} refused by the fake catalog"),
    }
}

fn failure(values: &[String], code: &str) -> PartitionFailure {
    PartitionFailure {
        values: values.to_vec(),
        code: code.to_owned(),
        message: format!("{code} for {values:?}"),
    }
}

/// One partition write of a batch call.
enum Write<'a> {
    Create(&'a str),
    Update(&'a str),
    Delete,
}

impl MemoryCatalog {
    /// The catalog's state, to inspect or to arrange (hidden, phantom or rejected partitions).
    pub fn lock(&self) -> MutexGuard<'_, CatalogState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The calls made so far.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Forgets the calls made so far.
    pub fn forget_calls(&self) {
        self.lock().calls.clear();
    }

    /// The partitions of table `database.name`: values → location.
    pub fn partitions_of(&self, database: &str, name: &str) -> BTreeMap<Vec<String>, String> {
        self.lock()
            .partitions
            .get(&(database.to_owned(), name.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    /// The definition of table `database.name`, when it exists.
    pub fn table_of(&self, database: &str, name: &str) -> Option<TableDefinition> {
        self.lock()
            .tables
            .get(&(database.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Applies one batch of writes, recording `call`; returns the per-partition failures.
    fn write_batch<'a>(
        &self,
        operation: &'static str,
        call: Call,
        table: &TableDefinition,
        writes: impl ExactSizeIterator<Item = (&'a [String], Write<'a>)>,
    ) -> Result<Vec<PartitionFailure>, CatalogError> {
        let mut state = self.lock();
        state.calls.push(call);
        if writes.len() > MAX_PARTITIONS_PER_CALL {
            return Err(refused(operation, "ValidationException"));
        }
        if !state.tables.contains_key(&key(table)) {
            return Err(refused(operation, "EntityNotFoundException"));
        }
        let mut failures = Vec::new();
        for (values, write) in writes {
            if let Some(code) = state.rejected.get(values) {
                failures.push(failure(values, code));
                continue;
            }
            let partitions = state.partitions.entry(key(table)).or_default();
            let exists = partitions.contains_key(values);
            match write {
                Write::Create(_) if exists => {
                    failures.push(failure(values, "AlreadyExistsException"))
                }
                Write::Update(_) | Write::Delete if !exists => {
                    failures.push(failure(values, "EntityNotFoundException"))
                }
                Write::Create(location) | Write::Update(location) => {
                    partitions.insert(values.to_vec(), location.to_owned());
                }
                Write::Delete => {
                    partitions.remove(values);
                }
            }
        }
        Ok(failures)
    }
}

impl CatalogState {
    /// Replaces the definition of an existing table, as Glue's `UpdateTable`.
    fn replace(&mut self, table: &TableDefinition) -> Result<(), CatalogError> {
        match self.tables.get_mut(&key(table)) {
            Some(stored) => {
                *stored = table.clone();
                *self.versions.entry(key(table)).or_insert(1) += 1;
                Ok(())
            }
            None => Err(refused("UpdateTable", "EntityNotFoundException")),
        }
    }
}

impl MemoryCatalog {
    /// Creates or updates `partitions` (as `write` says) in one batch call.
    fn put_partitions<'a>(
        &self,
        operation: &'static str,
        call: Call,
        table: &TableDefinition,
        partitions: &'a [CatalogPartition],
        write: fn(&'a str) -> Write<'a>,
    ) -> Result<Vec<PartitionFailure>, CatalogError> {
        let writes = partitions
            .iter()
            .map(|p| (p.values.as_slice(), write(&p.location)));
        self.write_batch(operation, call, table, writes)
    }
}

impl Catalog for MemoryCatalog {
    async fn ensure_database(&self, database: &str) -> Result<(), CatalogError> {
        let mut state = self.lock();
        state.calls.push(Call::EnsureDatabase);
        state.databases.insert(database.to_owned());
        Ok(())
    }

    async fn table(
        &self,
        database: &str,
        name: &str,
    ) -> Result<Option<TableDefinition>, CatalogError> {
        let mut state = self.lock();
        state.calls.push(Call::Table);
        Ok(state
            .tables
            .get(&(database.to_owned(), name.to_owned()))
            .cloned())
    }

    async fn versioned_table(
        &self,
        database: &str,
        name: &str,
    ) -> Result<Option<VersionedTable>, CatalogError> {
        let mut state = self.lock();
        state.calls.push(Call::Table);
        let key = (database.to_owned(), name.to_owned());
        let version_id = state.versions.get(&key).copied().unwrap_or(1).to_string();
        Ok(state.tables.get(&key).map(|definition| VersionedTable {
            definition: definition.clone(),
            version_id,
        }))
    }

    async fn create_table(&self, table: &TableDefinition) -> Result<(), CatalogError> {
        let mut state = self.lock();
        state.calls.push(Call::CreateTable);
        if !state.databases.contains(&table.database) {
            return Err(refused("CreateTable", "EntityNotFoundException"));
        }
        if state.tables.contains_key(&key(table)) {
            return Err(refused("CreateTable", "AlreadyExistsException"));
        }
        state.tables.insert(key(table), table.clone());
        state.versions.insert(key(table), 1);
        Ok(())
    }

    async fn update_table(&self, table: &TableDefinition) -> Result<(), CatalogError> {
        let mut state = self.lock();
        state.calls.push(Call::UpdateTable);
        state.replace(table)
    }

    async fn update_table_at(
        &self,
        table: &TableDefinition,
        version_id: &str,
    ) -> Result<(), CatalogError> {
        let mut state = self.lock();
        state.calls.push(Call::UpdateTableAt);
        if let Some(interloper) = state.interloper_once.take() {
            state.replace(&interloper)?;
        }
        let current = state.versions.get(&key(table)).map(u64::to_string);
        if current
            .as_deref()
            .is_some_and(|current| current != version_id)
        {
            return Err(CatalogError::Conflict {
                operation: "UpdateTable",
                message: format!("version {version_id} is not the current one"),
            });
        }
        state.replace(table)
    }

    async fn partitions(
        &self,
        table: &TableDefinition,
    ) -> Result<Vec<CatalogPartition>, CatalogError> {
        let mut state = self.lock();
        state.calls.push(Call::Partitions);
        if !state.tables.contains_key(&key(table)) {
            return Err(refused("GetPartitions", "EntityNotFoundException"));
        }
        let hidden = std::mem::take(&mut state.hidden_once);
        let mut listed: Vec<CatalogPartition> = state
            .partitions
            .get(&key(table))
            .into_iter()
            .flatten()
            .filter(|(values, _)| !hidden.contains(*values))
            .map(|(values, location)| CatalogPartition {
                values: values.clone(),
                location: location.clone(),
            })
            .collect();
        listed.append(&mut state.phantoms_once);
        Ok(listed)
    }

    async fn create_partitions(
        &self,
        table: &TableDefinition,
        partitions: &[CatalogPartition],
    ) -> Result<Vec<PartitionFailure>, CatalogError> {
        let call = Call::CreatePartitions(partitions.len());
        self.put_partitions(
            "BatchCreatePartition",
            call,
            table,
            partitions,
            Write::Create,
        )
    }

    async fn update_partitions(
        &self,
        table: &TableDefinition,
        partitions: &[CatalogPartition],
    ) -> Result<Vec<PartitionFailure>, CatalogError> {
        let call = Call::UpdatePartitions(partitions.len());
        self.put_partitions(
            "BatchUpdatePartition",
            call,
            table,
            partitions,
            Write::Update,
        )
    }

    async fn delete_partitions(
        &self,
        table: &TableDefinition,
        values: &[Vec<String>],
    ) -> Result<Vec<PartitionFailure>, CatalogError> {
        let writes = values.iter().map(|v| (v.as_slice(), Write::Delete));
        self.write_batch(
            "BatchDeletePartition",
            Call::DeletePartitions(values.len()),
            table,
            writes,
        )
    }
}
