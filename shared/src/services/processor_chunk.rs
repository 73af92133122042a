//! One chunk of a table's refresh (docs/DESIGN.md §11): which pending files to attempt (one
//! version per key; after a processor died, the suspects one at a time), attempts with fewer
//! files until every failure is attributed to the file that caused it or to the table, and what
//! is recorded on each file (processed, superseded, failed, quarantined).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use object_store::path::Path;
use tracing::{error, info, warn};

use super::{Chunk, Done, LeaseGuard, Processor, TableSummary, chrono_duration, truncate};
use crate::lake::dms_reader::RecordedVersion;
use crate::lake::garbage::{GarbagePolicy, collect_garbage};
use crate::lake::refresh::{self, MergeError, PendingFile, RefreshOutcome, RefreshRequest};
use crate::lake::snapshot;
use crate::lake::table_config::{OnBadFile, StorageMode, TableConfig};
use crate::ports::catalog::Catalog;
use crate::ports::file_tracker::{
    BacklogFile, FileBacklog, FileFailure, FileStatus, KeyVersion, SupersededFile,
};
use crate::ports::processing_tracker::{Lease, ProcessingTracker, RefreshTotals};
use crate::ports::state_store::StoreError;
use crate::ports::table_registry::TableRegistry;
use crate::services::publisher;

/// The error recorded on a file whose attempt alone was found without an outcome: the
/// processor died applying it. Always the same text, so that such deaths count as repeated
/// failures of one kind.
pub(super) const PROCESSOR_DIED: &str = "the processor died (out of memory or timeout) while applying this file alone, and nothing of it was applied; fix: give the processor more memory or time (or lower TRIBUTARY_MAX_BYTES_PER_REFRESH), or replace the file, then retry it";

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

/// Why an attempt failed: whose fault it is decides what happens next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cause {
    /// Storage or network trouble: the same attempt may succeed later.
    Transient,
    /// The content of the attempted file at this index.
    File(usize),
    /// The table (configuration, lake, catalog, tracker): fewer files would fail the same way.
    Table,
    /// The data of some attempted file that the error does not name.
    Unattributed,
    /// Another processor took the lease over.
    LeaseLost,
}

/// A failed attempt over some files.
pub(super) struct Attempt {
    error: String,
    cause: Cause,
}

/// A file known to make the table fail, with its error.
struct Culprit {
    file: BacklogFile,
    error: String,
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
    /// A file that must not be applied (index and error); the chunk stops before it.
    pub refused: Option<(usize, String)>,
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
            plan.refused = Some((
                index,
                format!(
                    "{}: another version of this file was already applied to this history table ({}); applying this one would add its rows a second time. Fix: if the new version must replace the old rows, rebuild the table from its DMS files; otherwise leave this version quarantined (with on_bad_file: skip later files go on)",
                    file.key, applied.id
                ),
            ));
            break;
        }
        plan.keep.push(index);
    }
    plan
}

/// What to attempt after an attempt failed with `cause` over `attempted` files: the files to
/// keep (a prefix), and whether the file right after them is the culprit. `None` stops the
/// chunk: the failure is not the files' (transient, the table's, or a lost lease).
pub(super) fn narrow(attempted: usize, cause: Cause) -> Option<(usize, bool)> {
    match cause {
        Cause::File(index) => Some((index, true)),
        Cause::Unattributed if attempted > 1 => Some((attempted.div_ceil(2), false)),
        Cause::Unattributed => Some((0, true)),
        Cause::Transient | Cause::Table | Cause::LeaseLost => None,
    }
}

/// The object version a tracker item recorded.
fn recorded_version(file: &BacklogFile) -> RecordedVersion {
    match (&file.version_id, &file.etag) {
        (Some(version), _) => RecordedVersion::VersionId(version.clone()),
        (None, Some(etag)) => RecordedVersion::ETag(etag.clone()),
        (None, None) => RecordedVersion::Current,
    }
}

fn store_failure(doing: &str, error: &StoreError) -> Attempt {
    let cause = match error {
        StoreError::LeaseLost { .. } => Cause::LeaseLost,
        e if e.is_retryable() => Cause::Transient,
        _ => Cause::Table,
    };
    Attempt {
        error: format!("{doing} failed: {error}"),
        cause,
    }
}

fn merge_failure(error: &MergeError, files: &[BacklogFile], lease_lost: bool) -> Attempt {
    let named = error
        .bad_file()
        .and_then(|path| files.iter().position(|f| f.key == path));
    let cause = if lease_lost {
        Cause::LeaseLost
    } else if error.is_retryable() {
        Cause::Transient
    } else if let Some(index) = named {
        Cause::File(index)
    } else if error.is_table_problem() {
        Cause::Table
    } else {
        Cause::Unattributed
    };
    Attempt {
        error: error.to_string(),
        cause,
    }
}

/// The chunk of a failed attempt that does not narrow.
fn stopped(done: Done, failure: Attempt) -> Chunk {
    if failure.cause == Cause::LeaseLost {
        return Chunk::LostLease {
            done,
            error: failure.error,
        };
    }
    Chunk::Failed {
        done,
        error: failure.error,
        quarantined: None,
    }
}

impl<R, T, B, C> Processor<R, T, B, C>
where
    R: TableRegistry,
    T: ProcessingTracker,
    B: FileBacklog,
    C: Catalog,
{
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
            Err(e) => return Chunk::failed(format!("could not read the pending files: {e}")),
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
            Err(failure) => return stopped(done, failure),
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
            .map_err(|e| store_failure("reading the versions of the pending files", &e))?;
        let plan = plan_versions(&files, &versions, run.config.mode);
        for superseded in &plan.superseded {
            self.supersede(run.lease, superseded, done).await?;
        }
        let culprit = plan.refused.and_then(|(index, error)| {
            let file = files.get(index)?.clone();
            Some(Culprit { file, error })
        });
        let files = plan
            .keep
            .iter()
            .filter_map(|index| files.get(*index).cloned())
            .collect();
        Ok(Candidates { files, culprit })
    }

    /// Records `file` superseded.
    async fn supersede(
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
            .map_err(|e| store_failure("recording a superseded file", &e))?;
        info!(table_id = %lease.table_id, file_id = %file.file_id, reason = %file.reason,
            "superseded a file; it is never applied");
        done.superseded.push(file.file_id.clone());
        done.totals.files_superseded += 1;
        Ok(())
    }

    /// When the head file carries an attempt of an earlier processor that recorded no outcome,
    /// that processor died applying it (or right after committing it). Files it had committed
    /// are reconciled first; then the head is attempted alone; an attempt of the head alone that
    /// died counts as a failure of the file ([`PROCESSOR_DIED`]), quarantined like any other.
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
                .map_err(|e| Chunk::failed(format!("could not read the lake snapshot: {e}")))?;
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
            let count = match self.count_failure(run, head, PROCESSOR_DIED).await {
                Ok(count) => count,
                Err(failure) => return Err(stopped(Done::default(), failure)),
            };
            if count.quarantined {
                return Err(self.failure_chunk(head, PROCESSOR_DIED, count, Done::default()));
            }
            head.failures = count.failures;
            head.last_error = Some(PROCESSOR_DIED.to_owned());
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
            let failure = match self.apply(run, &attempt, &refresh_id).await {
                Ok(applied) => {
                    done.absorb(applied);
                    break;
                }
                Err(failure) => failure,
            };
            let Some((keep, blamed)) = narrow(attempt.len(), failure.cause) else {
                return stopped(done, failure);
            };
            info!(table_id = %run.lease.table_id, refresh_id, files = attempt.len(), keep,
                error = %failure.error, "attempt failed; trying fewer files");
            if blamed && let Some(file) = attempt.get(keep) {
                culprit = Some(Culprit {
                    file: file.clone(),
                    error: failure.error,
                });
            }
            attempt.truncate(keep);
        }
        match culprit {
            None => Chunk::Applied(done),
            Some(culprit) => {
                self.bad_file(run, &culprit.file, &culprit.error, done)
                    .await
            }
        }
    }

    /// Counts a failure of `file` with `error`; quarantines it after too many.
    async fn bad_file(
        &self,
        run: &ChunkRun<'_>,
        file: &BacklogFile,
        error: &str,
        done: Done,
    ) -> Chunk {
        match self.count_failure(run, file, error).await {
            Ok(count) => self.failure_chunk(file, error, count, done),
            Err(failure) if failure.cause == Cause::LeaseLost => stopped(done, failure),
            Err(failure) => Chunk::Failed {
                done,
                error: format!("{} (and {})", truncate(error), failure.error),
                quarantined: None,
            },
        }
    }

    /// Records a failure of `file`: its count of consecutive failures with this error, and
    /// quarantine when the count reaches `quarantine_after`.
    async fn count_failure(
        &self,
        run: &ChunkRun<'_>,
        file: &BacklogFile,
        error: &str,
    ) -> Result<FailureCount, Attempt> {
        let error = truncate(error);
        let failures = if file.last_error.as_deref() == Some(error.as_str()) {
            file.failures.saturating_add(1)
        } else {
            1
        };
        let quarantined = failures >= self.settings.quarantine_after;
        let skipped = quarantined && run.config.on_bad_file == OnBadFile::Skip;
        let record = FileFailure {
            file_id: file.id.clone(),
            failures,
            error: error.clone(),
            status: if quarantined {
                FileStatus::Quarantined
            } else {
                FileStatus::Landed
            },
            keep_pending: !skipped,
        };
        self.backlog
            .record_failure(run.lease, &record, self.clock.now())
            .await
            .map_err(|e| store_failure("recording the failure", &e))?;
        if quarantined {
            error!(table_id = %run.lease.table_id, key = %file.key, failures, error = %error,
                skipped, "quarantined a DMS file");
        }
        Ok(FailureCount {
            failures,
            quarantined,
            skipped,
        })
    }

    /// How a chunk ends after a counted failure of `file`.
    fn failure_chunk(
        &self,
        file: &BacklogFile,
        error: &str,
        count: FailureCount,
        done: Done,
    ) -> Chunk {
        let error = truncate(error);
        let failures = count.failures;
        if count.skipped {
            return Chunk::SkippedBadFile {
                done,
                key: file.key.clone(),
            };
        }
        let error = if count.quarantined {
            format!(
                "quarantined {} after {failures} failures: {error}; the table stops here (on_bad_file: stop) until the file is fixed and retried",
                file.key
            )
        } else {
            format!(
                "{error} (failure {failures} of {} before quarantine)",
                self.settings.quarantine_after
            )
        };
        Chunk::Failed {
            done,
            error,
            quarantined: count.quarantined.then(|| file.key.clone()),
        }
    }

    /// The head of the backlog is a quarantined file: the table waits (stop) or sets it aside
    /// (skip, e.g. after the configuration changed to skip).
    async fn quarantined_head(&self, run: &ChunkRun<'_>, file: &BacklogFile) -> Chunk {
        let error = file.last_error.clone().unwrap_or_default();
        if run.config.on_bad_file == OnBadFile::Stop {
            return Chunk::failed(format!(
                "blocked by quarantined file {}: {error}; fix the file and run `tributary retry --file {}`, or set on_bad_file: skip",
                file.key, file.key
            ));
        }
        let record = FileFailure {
            file_id: file.id.clone(),
            failures: file.failures,
            error,
            status: FileStatus::Quarantined,
            keep_pending: false,
        };
        match self
            .backlog
            .record_failure(run.lease, &record, self.clock.now())
            .await
        {
            Ok(()) => Chunk::SkippedBadFile {
                done: Done::default(),
                key: file.key.clone(),
            },
            Err(e) => stopped(
                Done::default(),
                store_failure("setting the quarantined file aside", &e),
            ),
        }
    }

    /// One refresh of `files`: the attempt is recorded on them first (so a processor dying
    /// while applying them leaves a trace), then they are merged, published and recorded. A
    /// failed refresh clears the attempt of every file.
    async fn apply(
        &self,
        run: &ChunkRun<'_>,
        files: &[BacklogFile],
        refresh_id: &str,
    ) -> Result<Done, Attempt> {
        let ids: Vec<String> = files.iter().map(|f| f.id.clone()).collect();
        self.backlog
            .start_attempt(run.lease, &ids, refresh_id, self.clock.now())
            .await
            .map_err(|e| store_failure("recording the attempt", &e))?;
        let result = self.merge_and_record(run, files, refresh_id).await;
        if result.is_err() {
            self.end_attempt(run.lease, &ids).await;
        }
        result
    }

    /// Clears the attempt of files no outcome was recorded for; a failure only means the next
    /// run treats them as suspects of a crash.
    async fn end_attempt(&self, lease: &Lease, ids: &[String]) {
        if ids.is_empty() {
            return;
        }
        if let Err(e) = self.backlog.end_attempt(lease, ids).await {
            warn!(table_id = %lease.table_id, error = %e, files = ids.len(),
                "could not clear the attempt of files left pending");
        }
    }

    /// Merges `files`, publishes the table and records the files: one refresh.
    async fn merge_and_record(
        &self,
        run: &ChunkRun<'_>,
        files: &[BacklogFile],
        refresh_id: &str,
    ) -> Result<Done, Attempt> {
        let outcome = self.merge(run, files, refresh_id).await?;
        let mut done = Done {
            totals: totals(&outcome, files),
            ..Done::default()
        };
        for file_id in &outcome.superseded {
            let superseded = SupersededFile {
                file_id: file_id.clone(),
                reason: "the recorded object version no longer exists in the staging bucket (the key was overwritten or that version deleted)".to_owned(),
            };
            self.supersede(run.lease, &superseded, &mut done).await?;
        }
        self.end_attempt(run.lease, &outcome.deferred).await;
        let report = self.publish(run.config, &outcome).await?;
        let mut applied: Vec<String> = outcome
            .commit
            .as_ref()
            .map(|c| c.applied_files.clone())
            .unwrap_or_default();
        applied.extend(outcome.already_applied.iter().cloned());
        let now = self.clock.now();
        self.backlog
            .mark_processed(
                run.lease,
                &applied,
                refresh_id,
                now,
                now + chrono_duration(self.settings.processed_file_ttl),
            )
            .await
            .map_err(|e| store_failure("recording the processed files", &e))?;
        if outcome.snapshot.version > 0 {
            self.collect_garbage(run.config, &outcome, &report.catalog_locations, now)
                .await;
        }
        done.files = applied;
        done.snapshot_version = (outcome.snapshot.version > 0).then_some(outcome.snapshot.version);
        Ok(done)
    }

    /// Runs the merge engine over `files` (committing under the lease).
    async fn merge(
        &self,
        run: &ChunkRun<'_>,
        files: &[BacklogFile],
        refresh_id: &str,
    ) -> Result<RefreshOutcome, Attempt> {
        let mut pending = Vec::with_capacity(files.len());
        for (index, file) in files.iter().enumerate() {
            let path = Path::parse(&file.key).map_err(|e| Attempt {
                error: format!("staging key {:?} is not a valid object path: {e}", file.key),
                cause: Cause::File(index),
            })?;
            pending.push(PendingFile {
                id: file.id.clone(),
                path,
                kind: file.kind,
                format: file.format,
                order_key: file.order_key.clone(),
                version: recorded_version(file),
            });
        }
        let guard = LeaseGuard {
            tracker: &self.tracker,
            lease: run.lease,
            expires_at: run.expires_at,
            lost: AtomicBool::new(false),
        };
        let request = RefreshRequest {
            config: run.config,
            pending: &pending,
            refresh_id,
            now: self.clock.now(),
            commit_guard: Some(&guard),
            max_input_bytes: self.settings.backlog_limit.max_bytes,
        };
        let outcome = refresh::refresh(&self.stores, request)
            .await
            .map_err(|e| merge_failure(&e, files, guard.lost.load(Ordering::SeqCst)))?;
        let table_id = run.lease.table_id.as_str();
        if let Some(commit) = &outcome.commit {
            info!(
                table_id,
                refresh_id,
                version = commit.version,
                partitions = commit.partitions_written.len(),
                "committed a lake snapshot"
            );
        }
        if !outcome.already_applied.is_empty() {
            info!(
                table_id,
                refresh_id,
                files = outcome.already_applied.len(),
                "files were already in the lake snapshot (an earlier run committed them); publishing and recording them"
            );
        }
        if !outcome.deferred.is_empty() {
            info!(
                table_id,
                refresh_id,
                files = outcome.deferred.len(),
                "the refresh's memory budget is spent; later files wait for the next refresh"
            );
        }
        Ok(outcome)
    }

    /// Brings the catalog to the refresh's snapshot.
    async fn publish(
        &self,
        config: &TableConfig,
        outcome: &RefreshOutcome,
    ) -> Result<publisher::PublishReport, Attempt> {
        if outcome.snapshot.version == 0 {
            return Ok(publisher::PublishReport::default());
        }
        publisher::publish(
            &self.catalog,
            config,
            &outcome.snapshot,
            &self.settings.lake_url,
        )
        .await
        .map_err(|e| Attempt {
            cause: if e.is_retryable() {
                Cause::Transient
            } else {
                Cause::Table
            },
            error: format!("publishing to the catalog failed: {e}"),
        })
    }

    /// Deletes lake objects neither the snapshot nor the catalog references (after the grace
    /// period); a failure is retried by the next refresh.
    async fn collect_garbage(
        &self,
        config: &TableConfig,
        outcome: &RefreshOutcome,
        catalog_locations: &HashSet<String>,
        now: DateTime<Utc>,
    ) {
        let policy = GarbagePolicy {
            catalog_locations,
            now,
            grace: self.settings.gc_grace,
        };
        let table_id = config.table_id();
        match collect_garbage(
            &*self.stores.lake,
            &config.location,
            &outcome.snapshot,
            policy,
        )
        .await
        {
            Ok(gc) if gc.objects_deleted > 0 => {
                info!(
                    table_id,
                    folders = gc.folders_deleted,
                    objects = gc.objects_deleted,
                    bytes = gc.bytes_deleted,
                    snapshots = gc.snapshots_deleted,
                    "garbage-collected unreferenced lake objects"
                );
            }
            Ok(_) => {}
            Err(e) => {
                warn!(table_id, error = %e, "garbage collection failed; it is retried next refresh")
            }
        }
    }
}

/// A failure recorded on a file.
#[derive(Debug, Clone, Copy)]
struct FailureCount {
    failures: u32,
    quarantined: bool,
    skipped: bool,
}

/// What a merge outcome counts.
fn totals(outcome: &RefreshOutcome, files: &[BacklogFile]) -> RefreshTotals {
    let Some(commit) = &outcome.commit else {
        return RefreshTotals::default();
    };
    let bytes_read = files
        .iter()
        .filter(|f| commit.applied_files.contains(&f.id))
        .map(|f| f.size.unwrap_or(0))
        .sum();
    RefreshTotals {
        files: commit.applied_files.len() as u64,
        inserted: outcome.counts.inserted,
        updated: outcome.counts.updated,
        deleted: outcome.counts.deleted,
        ignored: outcome.counts.ignored,
        superseded: outcome.counts.superseded,
        files_superseded: 0,
        bytes_read,
        bytes_written: outcome.io.bytes_written,
        partitions_rewritten: (commit.partitions_written.len() + commit.partitions_dropped.len())
            as u64,
    }
}

#[cfg(test)]
#[path = "processor_chunk_test.rs"]
mod tests;
