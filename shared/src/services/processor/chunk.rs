//! One chunk of a table's refresh (docs/DESIGN.md §11): which pending files to attempt (one
//! version per key; after a processor died, the suspects one at a time), and attempts with fewer
//! files until every failure is attributed to the file that caused it or to the table. What is
//! recorded on a failing file is [`super::quarantine`]'s; one attempt is [`super::apply`].

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::failure::{AppliedVersion, Attempt, Cause, ChunkError, Failure, StoreRequest, narrow};
use super::outcome::{Chunk, Done};
use super::{Processor, chrono_duration};
use crate::contract::TableSummary;
use crate::lake::snapshot;
use crate::lake::table_config::{StorageMode, TableConfig};
use crate::ports::catalog::Catalog;
use crate::ports::file_tracker::{
    BacklogFile, FileBacklog, FileStatus, KeyVersion, SupersededFile,
};
use crate::ports::processing_tracker::{Lease, ProcessingTracker};
use crate::ports::table_registry::TableRegistry;

/// A chunk's fixed inputs.
pub(super) struct ChunkRun<'a> {
    /// The table.
    pub config: &'a TableConfig,
    /// Its lease.
    pub lease: &'a Lease,
    /// The chunk's refresh id (an attempt with fewer files appends `-a<n>`).
    pub refresh_id: &'a str,
    /// The lease's expiry, extended when the commit is confirmed.
    pub expires_at: DateTime<Utc>,
}

/// A file known to make the table fail, with its failure.
pub(super) struct Culprit {
    /// The file.
    pub file: BacklogFile,
    /// How it fails.
    pub failure: Failure,
}

/// The files a chunk attempts, in table order, and a file known to fail right after them.
struct Candidates {
    files: Vec<BacklogFile>,
    culprit: Option<Culprit>,
}

/// What the versions of a chunk's keys decide about its files.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct VersionPlan {
    /// Indexes of the files to attempt, in order.
    pub keep: Vec<usize>,
    /// Files replaced by a newer version of their key.
    pub superseded: Vec<SupersededFile>,
    /// A file that must not be applied (its index, and why); the chunk stops before it.
    pub refused: Option<(usize, AppliedVersion)>,
}

/// Decides, for `files` in table order and every tracked version of their keys, which files
/// to attempt: a file with a newer version of its key (landed, processed or quarantined) is
/// superseded; in `history` mode a new version of a key whose other version was already
/// applied is refused, because its rows would be appended a second time.
pub(super) fn plan_versions(
    files: &[BacklogFile],
    versions: &[KeyVersion],
    mode: StorageMode,
) -> VersionPlan {
    let mut plan = VersionPlan::default();
    for (index, file) in files.iter().enumerate() {
        let mine = file.as_version();
        let mut others = versions
            .iter()
            .filter(|v| v.order_key == file.order_key && v.id != file.id);
        let replaces = |v: &&KeyVersion| {
            matches!(
                v.status,
                FileStatus::Landed | FileStatus::Processed | FileStatus::Quarantined
            ) && v.is_newer_than(&mine)
        };
        if let Some(newer) = others.clone().find(replaces) {
            plan.superseded.push(SupersededFile {
                file_id: file.id.clone(),
                reason: format!("a newer version of {} is tracked ({})", file.key, newer.id),
            });
            continue;
        }
        let applied = others.find(|v| v.status == FileStatus::Processed);
        if let Some(applied) = applied.filter(|_| mode == StorageMode::History) {
            let refused = AppliedVersion {
                key: file.key.clone(),
                applied: applied.id.clone(),
            };
            plan.refused = Some((index, refused));
            break;
        }
        plan.keep.push(index);
    }
    plan
}

/// The chunk of a failed attempt that does not narrow: the table lost its lease, or stops.
pub(super) fn stopped(done: Done, attempt: Attempt) -> Chunk {
    if attempt.cause == Cause::LeaseLost {
        return Chunk::LostLease {
            done,
            error: attempt.failure,
        };
    }
    Chunk::Failed {
        done,
        error: ChunkError::Step(attempt.failure),
        quarantined: None,
    }
}

impl<R: TableRegistry, T: ProcessingTracker, B: FileBacklog, C: Catalog> Processor<R, T, B, C> {
    /// One bounded chunk of the table's backlog. Files applied earlier in this invocation are
    /// ignored (the pending index may lag behind their marking).
    pub(super) async fn run_chunk(
        &self,
        run: &ChunkRun<'_>,
        applied_here: &HashSet<String>,
        summary: &mut TableSummary,
    ) -> Chunk {
        let table_id = run.lease.table_id.as_str();
        let pending = match self
            .backlog
            .pending(table_id, self.settings.backlog_limit)
            .await
        {
            Ok(pending) => pending,
            Err(source) => {
                let request = StoreRequest::ReadPending;
                return Chunk::failed(Failure::StateStore { request, source });
            }
        };
        let pending: Vec<BacklogFile> = pending
            .into_iter()
            .filter(|f| !applied_here.contains(&f.id))
            .collect();
        let Some(first) = pending.first() else {
            return Chunk::Empty;
        };
        let lag = (self.clock.now() - first.landed_at).num_seconds();
        summary.lag_seconds = Some(summary.lag_seconds.map_or(lag, |l| l.max(lag)));
        if first.status == FileStatus::Quarantined {
            return self.quarantined_head(run, first).await;
        }
        let landed: Vec<BacklogFile> = pending
            .into_iter()
            .take_while(|f| f.status == FileStatus::Landed)
            .collect();
        let mut done = Done::default();
        let candidates = match self.one_version_per_key(run, landed, &mut done).await {
            Ok(candidates) => candidates,
            Err(attempt) => return stopped(done, attempt),
        };
        let candidates = match self.after_a_crash(run, candidates).await {
            Ok(candidates) => candidates,
            Err(chunk) => return chunk,
        };
        self.attempt_until_attributed(run, candidates, done).await
    }

    /// Records superseded the files a newer version of their key replaces, and stops the
    /// candidates before a file that must not be applied (see [`plan_versions`]).
    async fn one_version_per_key(
        &self,
        run: &ChunkRun<'_>,
        files: Vec<BacklogFile>,
        done: &mut Done,
    ) -> Result<Candidates, Attempt> {
        let order_keys: Vec<&str> = files.iter().map(|f| f.order_key.as_str()).collect();
        let versions = self
            .backlog
            .key_versions(&run.lease.table_id, &order_keys)
            .await
            .map_err(|e| Attempt::store(StoreRequest::ReadVersions, e))?;
        let plan = plan_versions(&files, &versions, run.config.mode);
        for superseded in &plan.superseded {
            self.supersede(run.lease, superseded, done).await?;
        }
        let culprit = plan.refused.and_then(|(index, refused)| {
            let file = files.get(index)?.clone();
            let failure = Failure::AppliedVersion(refused);
            Some(Culprit { file, failure })
        });
        let files = plan
            .keep
            .iter()
            .filter_map(|index| files.get(*index).cloned())
            .collect();
        Ok(Candidates { files, culprit })
    }

    /// Records `file` superseded.
    pub(super) async fn supersede(
        &self,
        lease: &Lease,
        file: &SupersededFile,
        done: &mut Done,
    ) -> Result<(), Attempt> {
        let now = self.clock.now();
        let expires_at = now + chrono_duration(self.settings.processed_file_ttl);
        self.backlog
            .mark_superseded(lease, file, now, expires_at)
            .await
            .map_err(|e| Attempt::store(StoreRequest::RecordSuperseded, e))?;
        info!(table_id = %lease.table_id, file_id = %file.file_id, reason = %file.reason,
            "superseded a file; it is never applied");
        done.superseded.push(file.file_id.clone());
        done.totals.files_superseded += 1;
        Ok(())
    }

    /// When the head file carries an attempt of an earlier processor that recorded no outcome,
    /// that processor died applying it (or right after committing it). Files it had committed
    /// are reconciled first; then the head is attempted alone; an attempt of the head alone that
    /// died counts as a failure of the file ([`Failure::ProcessorDied`]), quarantined like any
    /// other.
    async fn after_a_crash(
        &self,
        run: &ChunkRun<'_>,
        mut candidates: Candidates,
    ) -> Result<Candidates, Chunk> {
        let token = run.lease.token;
        let died = |f: &BacklogFile| f.attempt.as_ref().is_some_and(|a| a.token != token);
        let Some(head) = candidates.files.first().filter(|f| died(f)) else {
            return Ok(candidates);
        };
        let key = head.key.clone();
        let alone = head.attempt.as_ref().is_some_and(|a| a.files == 1);
        let config = run.config;
        let snapshot =
            snapshot::load_latest(&*self.stores.lake, &config.location, &config.table_id())
                .await
                .map_err(|e| Chunk::failed(Failure::Storage(e)))?;
        let committed = candidates
            .files
            .iter()
            .take_while(|f| died(f) && snapshot.has_applied(&f.id))
            .count();
        if committed > 0 {
            candidates.files.truncate(committed);
            candidates.culprit = None;
            return Ok(candidates);
        }
        warn!(table_id = %run.lease.table_id, key = %key, alone,
            "an earlier processor died while applying this file; applying it alone");
        candidates.files.truncate(1);
        candidates.culprit = None;
        if alone && let Some(head) = candidates.files.first_mut() {
            self.count_death(run, head).await?;
        }
        Ok(candidates)
    }

    /// Applies the candidates; while an attempt fails because of a file, applies the files
    /// before it (the earliest culprit wins), and while a failure names no file, applies fewer
    /// files (half, then one: one file alone is the culprit). Finally the culprit's failure is
    /// counted (and it is quarantined after `quarantine_after` of them).
    async fn attempt_until_attributed(
        &self,
        run: &ChunkRun<'_>,
        candidates: Candidates,
        mut done: Done,
    ) -> Chunk {
        let Candidates {
            files: mut attempt,
            mut culprit,
        } = candidates;
        let mut round = 1;
        while !attempt.is_empty() {
            let refresh_id = match round {
                1 => run.refresh_id.to_owned(),
                n => format!("{}-a{n}", run.refresh_id),
            };
            round += 1;
            let failed = match self.apply(run, &attempt, &refresh_id).await {
                Ok(applied) => {
                    done.absorb(applied);
                    break;
                }
                Err(failed) => failed,
            };
            let Some((keep, blamed)) = narrow(attempt.len(), failed.cause) else {
                return stopped(done, failed);
            };
            info!(table_id = %run.lease.table_id, refresh_id, files = attempt.len(), keep,
                error = %failed.failure, "attempt failed; trying fewer files");
            if blamed && let Some(file) = attempt.get(keep) {
                culprit = Some(Culprit {
                    file: file.clone(),
                    failure: failed.failure,
                });
            }
            attempt.truncate(keep);
        }
        match culprit {
            None => Chunk::Applied(done),
            Some(culprit) => self.bad_file(run, culprit, done).await,
        }
    }
}

#[cfg(test)]
#[path = "chunk_test.rs"]
mod tests;
