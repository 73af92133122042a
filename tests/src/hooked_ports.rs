//! The processor's state-store and catalog ports with a test's hooks around each call: the one
//! delegating wrapper the tests need to run a step at a chosen point of a processor's calls or
//! to inject faults there.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use tributary_shared::ports::catalog::{
    Catalog, CatalogError, CatalogPartition, PartitionFailure, TableDefinition, VersionedTable,
};
use tributary_shared::ports::file_tracker::{
    BacklogFile, BacklogLimit, FileBacklog, FileFailure, KeyVersion, SupersededFile,
};
use tributary_shared::ports::processing_tracker::{
    Lease, LeaseGrant, ProcessingTracker, RefreshRecord,
};
use tributary_shared::ports::state_store::StoreError;

/// A port error a hook can make up: the port's "unreachable" error.
pub trait InjectedError {
    /// The error, with `detail` saying what was injected.
    fn injected(detail: String) -> Self;
}

impl InjectedError for StoreError {
    fn injected(detail: String) -> Self {
        StoreError::Unreachable {
            store: "fault injection",
            detail,
        }
    }
}

impl InjectedError for CatalogError {
    fn injected(detail: String) -> Self {
        CatalogError::Unreachable {
            operation: "fault injection",
            detail,
        }
    }
}

/// What a test does around a port's calls; by default, nothing. A hook's error is a detail the
/// wrapper turns into the port's [`InjectedError`].
pub trait PortHooks: Send + Sync + 'static {
    /// Runs before the call of the port method `operation` (`acquire`, `pending`,
    /// `create_table`…) reaches the port: a step of the test, or an error that fails the call
    /// without making it. The number it returns is handed to [`PortHooks::after`].
    fn before(&self, operation: &'static str) -> BoxFuture<'_, Result<u32, String>> {
        let _ = operation;
        Box::pin(async { Ok(0) })
    }

    /// Runs after the port answered call `ticket` of `operation` successfully: a step of the
    /// test, or an error that fails the call although the port made it (its response is lost).
    fn after(&self, operation: &'static str, ticket: u32) -> BoxFuture<'_, Result<(), String>> {
        let _ = (operation, ticket);
        Box::pin(async { Ok(()) })
    }

    /// Files to answer the next `pending` call with instead of asking the port (a stale read).
    fn replaced_pending(&self) -> Option<Vec<BacklogFile>> {
        None
    }
}

/// `inner` with `hooks` around each call.
pub struct Hooked<P, H> {
    inner: P,
    hooks: Arc<H>,
}

impl<P, H: PortHooks> Hooked<P, H> {
    /// Wraps `inner`.
    pub fn new(inner: P, hooks: Arc<H>) -> Hooked<P, H> {
        Hooked { inner, hooks }
    }

    /// `answer` (the port's answer to `operation`) between the hooks.
    async fn hooked<T, E: InjectedError>(
        &self,
        operation: &'static str,
        answer: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let ticket = self.hooks.before(operation).await.map_err(E::injected)?;
        let value = answer.await?;
        self.hooks
            .after(operation, ticket)
            .await
            .map_err(E::injected)?;
        Ok(value)
    }
}

impl<T: ProcessingTracker, H: PortHooks> ProcessingTracker for Hooked<T, H> {
    async fn acquire(
        &self,
        table_id: &str,
        owner: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<LeaseGrant, StoreError> {
        let answer = self.inner.acquire(table_id, owner, now, expires_at);
        self.hooked("acquire", answer).await
    }

    async fn confirm(&self, lease: &Lease, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        let answer = self.inner.confirm(lease, expires_at);
        self.hooked("confirm", answer).await
    }

    async fn record_refresh(
        &self,
        lease: Option<&Lease>,
        record: &RefreshRecord,
    ) -> Result<(), StoreError> {
        let answer = self.inner.record_refresh(lease, record);
        self.hooked("record_refresh", answer).await
    }

    async fn release(&self, lease: &Lease, last: &RefreshRecord) -> Result<(), StoreError> {
        let answer = self.inner.release(lease, last);
        self.hooked("release", answer).await
    }
}

impl<B: FileBacklog, H: PortHooks> FileBacklog for Hooked<B, H> {
    async fn pending(
        &self,
        table_id: &str,
        limit: BacklogLimit,
    ) -> Result<Vec<BacklogFile>, StoreError> {
        match self.hooks.replaced_pending() {
            Some(files) => self.hooked("pending", async { Ok(files) }).await,
            None => {
                let answer = self.inner.pending(table_id, limit);
                self.hooked("pending", answer).await
            }
        }
    }

    async fn mark_processed(
        &self,
        lease: &Lease,
        file_ids: &[String],
        refresh_id: &str,
        processed_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let answer =
            self.inner
                .mark_processed(lease, file_ids, refresh_id, processed_at, expires_at);
        self.hooked("mark_processed", answer).await
    }

    async fn record_failure(
        &self,
        lease: &Lease,
        failure: &FileFailure,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let answer = self.inner.record_failure(lease, failure, at);
        self.hooked("record_failure", answer).await
    }

    async fn start_attempt(
        &self,
        lease: &Lease,
        file_ids: &[String],
        refresh_id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let answer = self.inner.start_attempt(lease, file_ids, refresh_id, at);
        self.hooked("start_attempt", answer).await
    }

    async fn end_attempt(&self, lease: &Lease, file_ids: &[String]) -> Result<(), StoreError> {
        let answer = self.inner.end_attempt(lease, file_ids);
        self.hooked("end_attempt", answer).await
    }

    async fn mark_superseded(
        &self,
        lease: &Lease,
        file: &SupersededFile,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let answer = self.inner.mark_superseded(lease, file, at, expires_at);
        self.hooked("mark_superseded", answer).await
    }

    async fn key_versions(
        &self,
        table_id: &str,
        order_keys: &[&str],
    ) -> Result<Vec<KeyVersion>, StoreError> {
        let answer = self.inner.key_versions(table_id, order_keys);
        self.hooked("key_versions", answer).await
    }
}

impl<C: Catalog, H: PortHooks> Catalog for Hooked<C, H> {
    async fn ensure_database(&self, database: &str) -> Result<(), CatalogError> {
        let answer = self.inner.ensure_database(database);
        self.hooked("ensure_database", answer).await
    }

    async fn table(
        &self,
        database: &str,
        name: &str,
    ) -> Result<Option<TableDefinition>, CatalogError> {
        let answer = self.inner.table(database, name);
        self.hooked("table", answer).await
    }

    async fn versioned_table(
        &self,
        database: &str,
        name: &str,
    ) -> Result<Option<VersionedTable>, CatalogError> {
        let answer = self.inner.versioned_table(database, name);
        self.hooked("versioned_table", answer).await
    }

    async fn create_table(&self, table: &TableDefinition) -> Result<(), CatalogError> {
        let answer = self.inner.create_table(table);
        self.hooked("create_table", answer).await
    }

    async fn update_table(&self, table: &TableDefinition) -> Result<(), CatalogError> {
        let answer = self.inner.update_table(table);
        self.hooked("update_table", answer).await
    }

    async fn update_table_at(
        &self,
        table: &TableDefinition,
        version_id: &str,
    ) -> Result<(), CatalogError> {
        let answer = self.inner.update_table_at(table, version_id);
        self.hooked("update_table_at", answer).await
    }

    async fn partitions(
        &self,
        table: &TableDefinition,
    ) -> Result<Vec<CatalogPartition>, CatalogError> {
        let answer = self.inner.partitions(table);
        self.hooked("partitions", answer).await
    }

    async fn create_partitions(
        &self,
        table: &TableDefinition,
        partitions: &[CatalogPartition],
    ) -> Result<Vec<PartitionFailure>, CatalogError> {
        let answer = self.inner.create_partitions(table, partitions);
        self.hooked("create_partitions", answer).await
    }

    async fn update_partitions(
        &self,
        table: &TableDefinition,
        partitions: &[CatalogPartition],
    ) -> Result<Vec<PartitionFailure>, CatalogError> {
        let answer = self.inner.update_partitions(table, partitions);
        self.hooked("update_partitions", answer).await
    }

    async fn delete_partitions(
        &self,
        table: &TableDefinition,
        values: &[Vec<String>],
    ) -> Result<Vec<PartitionFailure>, CatalogError> {
        let answer = self.inner.delete_partitions(table, values);
        self.hooked("delete_partitions", answer).await
    }
}
