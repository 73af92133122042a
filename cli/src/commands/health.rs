//! The health verdict of a table, as `tributary status` gives it: pure rules over what it read
//! (backlog, quarantined files, latest refresh, lease) and the thresholds (docs/DESIGN.md §13).

use chrono::{DateTime, Utc};
use serde::Serialize;
use tributary_shared::adapters::dynamodb_processing_tracker::TableState;
use tributary_shared::ports::file_tracker::BacklogSummary;
use tributary_shared::ports::processing_tracker::{
    RefreshOutcomeKind, RefreshRecord, RefreshTotals,
};

/// A table's health verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Refreshing normally.
    Healthy,
    /// Not refreshed by configuration.
    Inactive,
    /// Its oldest pending file waits longer than the threshold.
    Lagging,
    /// Its last refresh failed.
    Failing,
    /// Files are pending and a lease holder that shows no progress keeps the table (a crashed
    /// processor): nothing is applied until the lease lapses.
    Busy,
    /// Some of its files are quarantined and need a fix and `tributary retry`.
    Quarantined,
}

impl Health {
    /// The verdict as `status` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Inactive => "inactive",
            Health::Lagging => "lagging",
            Health::Failing => "failing",
            Health::Busy => "busy",
            Health::Quarantined => "quarantined",
        }
    }

    /// Whether the verdict needs an operator.
    pub fn needs_attention(self) -> bool {
        matches!(
            self,
            Health::Lagging | Health::Failing | Health::Busy | Health::Quarantined
        )
    }
}

/// A table's lease as `status` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseStatus {
    /// The processor invocation that holds (or last held) it.
    pub holder: String,
    /// When it was taken.
    pub acquired_at: Option<DateTime<Utc>>,
    /// When it lapses (another processor may take the table over from then on).
    pub expires_at: Option<DateTime<Utc>>,
    /// It lapsed without being released: its holder crashed or was stopped, and the next run
    /// takes the table over.
    pub lapsed: bool,
    /// The holder's latest sign of progress: taking the lease or recording a refresh.
    pub last_progress_at: Option<DateTime<Utc>>,
}

impl LeaseStatus {
    /// The lease in `state`, if any; `history` (newest first) gives the holder's progress.
    pub fn from_state(
        state: &TableState,
        history: &[RefreshRecord],
        now: DateTime<Utc>,
    ) -> Option<LeaseStatus> {
        let holder = state.lease_owner.clone()?;
        let acquired_at = state.lease_acquired_at;
        let recorded = history
            .iter()
            .filter(|r| r.owner == holder && acquired_at.is_none_or(|a| r.started_at >= a))
            .map(|r| r.finished_at)
            .max();
        Some(LeaseStatus {
            lapsed: state.lease_expires_at.is_some_and(|expiry| expiry <= now),
            expires_at: state.lease_expires_at,
            last_progress_at: acquired_at.max(recorded),
            acquired_at,
            holder,
        })
    }

    /// How it reads in the status table.
    pub fn summary(&self) -> String {
        let until = self
            .expires_at
            .map(|t| t.format("%F %T").to_string())
            .unwrap_or_else(|| "?".to_owned());
        if self.lapsed {
            format!("{} (lapsed {until})", self.holder)
        } else {
            format!("{} until {until}", self.holder)
        }
    }
}

/// When `status` calls a table `lagging` or `busy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Seconds the oldest pending file may wait.
    pub lag_seconds: i64,
    /// Seconds a lease holder may show no progress while files are pending.
    pub busy_after_seconds: i64,
}

/// The latest refresh attempt of a table.
#[derive(Debug, Clone, Serialize)]
pub struct LastRefresh {
    /// How it ended.
    pub outcome: RefreshOutcomeKind,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// Its counts.
    #[serde(flatten)]
    pub totals: RefreshTotals,
    /// Why it failed.
    pub error: Option<String>,
}

impl From<&RefreshRecord> for LastRefresh {
    fn from(record: &RefreshRecord) -> LastRefresh {
        LastRefresh {
            outcome: record.outcome,
            finished_at: record.finished_at,
            totals: record.totals,
            error: record.error.clone(),
        }
    }
}

/// The health verdict of a table from what `status` read; the reasons explain it.
///
/// A held lease alone is a refresh in flight and keeps the verdict; it makes the table `busy`
/// only while files are pending and its holder has shown no progress for
/// `thresholds.busy_after_seconds` or more (a crashed holder blocks the table until its lease
/// lapses).
/// A lapsed lease blocks nothing: the next run takes the table over.
pub fn judge(
    active: bool,
    backlog: &BacklogSummary,
    quarantined_files: usize,
    last: Option<&LastRefresh>,
    lease: Option<&LeaseStatus>,
    now: DateTime<Utc>,
    thresholds: Thresholds,
) -> (Health, Vec<String>) {
    if !active {
        return (
            Health::Inactive,
            vec!["inactive in the configuration".into()],
        );
    }
    let mut verdicts = Vec::new();
    if quarantined_files > 0 {
        verdicts.push((
            Health::Quarantined,
            format!(
                "{quarantined_files} quarantined file(s): see `tributary files --status \
                 quarantined`, fix, then `tributary retry`"
            ),
        ));
    }
    if let Some(last) = last.filter(|last| last.outcome == RefreshOutcomeKind::Failed) {
        verdicts.push((
            Health::Failing,
            format!(
                "last refresh failed: {}",
                last.error.as_deref().unwrap_or("no error recorded")
            ),
        ));
    }
    if let Some(reason) = lease
        .filter(|_| backlog.files > 0)
        .and_then(|lease| stuck_lease(lease, backlog.files, now, thresholds.busy_after_seconds))
    {
        verdicts.push((Health::Busy, reason));
    }
    let lag_threshold = thresholds.lag_seconds;
    if let Some(lag) = lag_seconds(backlog, now).filter(|lag| *lag > lag_threshold) {
        verdicts.push((
            Health::Lagging,
            format!("oldest pending file waits {lag} s (threshold {lag_threshold} s)"),
        ));
    }
    match verdicts.first() {
        None => (Health::Healthy, Vec::new()),
        Some((health, _)) => (*health, verdicts.into_iter().map(|(_, r)| r).collect()),
    }
}

/// Why a held lease blocks `pending` files when its holder has shown no progress for
/// `busy_after_seconds` or more; `None` before that, or when the lease lapsed.
fn stuck_lease(
    lease: &LeaseStatus,
    pending: u64,
    now: DateTime<Utc>,
    busy_after_seconds: i64,
) -> Option<String> {
    if lease.lapsed {
        return None;
    }
    let quiet = lease
        .last_progress_at
        .map(|at| (now - at).num_seconds().max(0));
    if quiet.is_some_and(|quiet| quiet < busy_after_seconds) {
        return None;
    }
    let quiet = quiet.map_or_else(|| "an unknown time".to_owned(), |q| format!("{q} s"));
    Some(format!(
        "lease held by {} until {} with {pending} file(s) pending and no progress for {quiet} \
         (threshold {busy_after_seconds} s): its holder has probably crashed; the table waits \
         until the lease lapses, then the next run takes it over",
        lease.holder,
        lease
            .expires_at
            .map_or_else(|| "an unknown time".to_owned(), |t| t.to_rfc3339()),
    ))
}

/// Seconds since the oldest pending file of `backlog` landed, if any is pending.
pub fn lag_seconds(backlog: &BacklogSummary, now: DateTime<Utc>) -> Option<i64> {
    backlog
        .oldest_landed_at
        .map(|oldest| (now - oldest).num_seconds().max(0))
}

#[cfg(test)]
#[path = "health_test.rs"]
mod tests;
