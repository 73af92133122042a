//! An in-memory processing tracker: leases with fencing tokens as the DynamoDB one keeps them
//! (conditional on the holder and its token), the history, and each table's last outcome.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};

use crate::ports::processing_tracker::{
    LastOutcomes, Lease, LeaseGrant, ProcessingTracker, RefreshOutcomeKind, RefreshRecord,
};
use crate::ports::state_store::StoreError;

/// One table's lease item.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableLease {
    /// The holder, while a lease is held.
    pub owner: Option<String>,
    /// When the held lease lapses.
    pub expires_at: Option<DateTime<Utc>>,
    /// The last fencing token handed out.
    pub token: u64,
    /// The outcome the last release stored.
    pub last_outcome: Option<RefreshOutcomeKind>,
}

#[derive(Debug, Default)]
struct State {
    tables: HashMap<String, TableLease>,
    history: Vec<RefreshRecord>,
    outcome_reads: Vec<String>,
    /// Who takes a table's lease over right before its holder's next confirmation.
    take_over_at_confirm: HashMap<String, String>,
}

/// The in-memory processing tracker; clones share the state (keep one to inspect it, and give
/// one to [`super::file_tracker::MemoryFileTracker::fenced_by`]).
#[derive(Debug, Clone, Default)]
pub struct MemoryProcessingTracker {
    state: Arc<Mutex<State>>,
}

impl MemoryProcessingTracker {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Another processor, `owner`, holds the table's lease until `expires_at` (a fresh token).
    pub fn take_over(&self, table_id: &str, owner: &str, expires_at: DateTime<Utc>) {
        take_over(&mut self.lock(), table_id, owner, expires_at);
    }

    /// `owner` takes the table's lease over right before its holder next confirms it (at the
    /// holder's commit point), for the lease's remaining time.
    pub fn take_over_at_next_confirm(&self, table_id: &str, owner: &str) {
        self.lock()
            .take_over_at_confirm
            .insert(table_id.to_owned(), owner.to_owned());
    }

    /// The table's lease item.
    pub fn lease_of(&self, table_id: &str) -> TableLease {
        self.lock()
            .tables
            .get(table_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Every history item written, in order.
    pub fn history(&self) -> Vec<RefreshRecord> {
        self.lock().history.clone()
    }

    /// Sets the table's last released outcome.
    pub fn set_last_outcome(&self, table_id: &str, outcome: RefreshOutcomeKind) {
        let mut state = self.lock();
        state
            .tables
            .entry(table_id.to_owned())
            .or_default()
            .last_outcome = Some(outcome);
    }

    /// Forgets every table's last outcome.
    pub fn forget_last_outcomes(&self) {
        for table in self.lock().tables.values_mut() {
            table.last_outcome = None;
        }
    }

    /// The table ids whose last outcomes were read, in order.
    pub fn outcome_reads(&self) -> Vec<String> {
        self.lock().outcome_reads.clone()
    }

    /// Fails with [`StoreError::LeaseLost`] unless `lease` is held.
    pub fn check(&self, lease: &Lease) -> Result<(), StoreError> {
        check(&self.lock(), lease)
    }
}

fn held(state: &State, lease: &Lease) -> bool {
    state.tables.get(&lease.table_id).is_some_and(|table| {
        table.owner.as_deref() == Some(lease.owner.as_str()) && table.token == lease.token
    })
}

fn check(state: &State, lease: &Lease) -> Result<(), StoreError> {
    if held(state, lease) {
        return Ok(());
    }
    Err(StoreError::LeaseLost {
        table_id: lease.table_id.clone(),
        token: lease.token,
    })
}

fn take_over(state: &mut State, table_id: &str, owner: &str, expires_at: DateTime<Utc>) {
    let table = state.tables.entry(table_id.to_owned()).or_default();
    table.owner = Some(owner.to_owned());
    table.expires_at = Some(expires_at);
    table.token += 1;
}

impl ProcessingTracker for MemoryProcessingTracker {
    async fn acquire(
        &self,
        table_id: &str,
        owner: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<LeaseGrant, StoreError> {
        let mut state = self.lock();
        let table = state.tables.entry(table_id.to_owned()).or_default();
        if let (Some(holder), Some(until)) = (&table.owner, table.expires_at)
            && until >= now
        {
            return Ok(LeaseGrant::Busy {
                owner: holder.clone(),
                expires_at: until,
            });
        }
        let took_over_from = table.owner.take();
        take_over(&mut state, table_id, owner, expires_at);
        let token = state.tables.get(table_id).map_or(0, |table| table.token);
        Ok(LeaseGrant::Acquired {
            lease: Lease {
                table_id: table_id.to_owned(),
                owner: owner.to_owned(),
                token,
                expires_at,
            },
            took_over_from,
        })
    }

    async fn confirm(&self, lease: &Lease, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.lock();
        if let Some(owner) = state.take_over_at_confirm.remove(&lease.table_id) {
            take_over(&mut state, &lease.table_id, &owner, lease.expires_at);
        }
        check(&state, lease)?;
        if let Some(table) = state.tables.get_mut(&lease.table_id) {
            table.expires_at = Some(expires_at);
        }
        Ok(())
    }

    async fn record_refresh(
        &self,
        lease: Option<&Lease>,
        record: &RefreshRecord,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        if let Some(lease) = lease {
            check(&state, lease)?;
        }
        state.history.push(record.clone());
        Ok(())
    }

    async fn release(&self, lease: &Lease, last: &RefreshRecord) -> Result<(), StoreError> {
        let mut state = self.lock();
        check(&state, lease)?;
        if let Some(table) = state.tables.get_mut(&lease.table_id) {
            table.owner = None;
            table.expires_at = None;
            table.last_outcome = Some(last.outcome);
        }
        Ok(())
    }
}

impl LastOutcomes for MemoryProcessingTracker {
    async fn last_outcomes(
        &self,
        table_ids: &[String],
    ) -> Result<HashMap<String, RefreshOutcomeKind>, StoreError> {
        let mut state = self.lock();
        state.outcome_reads.extend(table_ids.iter().cloned());
        Ok(table_ids
            .iter()
            .filter_map(|id| {
                let outcome = state.tables.get(id)?.last_outcome?;
                Some((id.clone(), outcome))
            })
            .collect())
    }
}
