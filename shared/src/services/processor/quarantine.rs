//! A failing file's record (docs/DESIGN.md §11, "Bad files"): each failure attributed to a file
//! is counted on its tracker item with its fingerprint; the same failure `quarantine_after`
//! times quarantines it (the rule is [`count_failure`]). A quarantined file at the head of the
//! backlog blocks its table, or is set aside when the table skips bad files.

use tracing::error;

use super::Processor;
use super::chunk::{ChunkRun, Culprit, stopped};
use super::failure::{Attempt, Cause, ChunkError, Failure, StoreRequest};
use super::outcome::{Chunk, Done, FailureCount, count_failure, failure_chunk, truncate};
use crate::lake::table_config::OnBadFile;
use crate::ports::catalog::Catalog;
use crate::ports::file_tracker::{BacklogFile, FileBacklog, FileFailure, FileStatus};
use crate::ports::processing_tracker::ProcessingTracker;
use crate::ports::table_registry::TableRegistry;

impl<R: TableRegistry, T: ProcessingTracker, B: FileBacklog, C: Catalog> Processor<R, T, B, C> {
    /// Counts the culprit's failure (after the files before it were applied: `done`) and ends
    /// the chunk at it.
    pub(super) async fn bad_file(&self, run: &ChunkRun<'_>, culprit: Culprit, done: Done) -> Chunk {
        let Culprit { file, failure } = culprit;
        match self.record_failure(run, &file, &failure).await {
            Ok(count) => self.failure_chunk(&file, failure, count, done),
            Err(attempt) if attempt.cause == Cause::LeaseLost => stopped(done, attempt),
            Err(attempt) => Chunk::Failed {
                done,
                error: ChunkError::Uncounted {
                    failure,
                    recording: attempt.failure,
                },
                quarantined: None,
            },
        }
    }

    /// Counts a death of the processor on `head`, attempted alone by the processor that died;
    /// the chunk ends when that quarantines it, else `head` carries the new count.
    pub(super) async fn count_death(
        &self,
        run: &ChunkRun<'_>,
        head: &mut BacklogFile,
    ) -> Result<(), Chunk> {
        let failure = Failure::ProcessorDied;
        let count = match self.record_failure(run, head, &failure).await {
            Ok(count) => count,
            Err(attempt) => return Err(stopped(Done::default(), attempt)),
        };
        if count.quarantined {
            return Err(self.failure_chunk(head, failure, count, Done::default()));
        }
        head.failures = count.failures;
        head.last_error = Some(failure.to_string());
        head.last_fingerprint = Some(failure.fingerprint());
        Ok(())
    }

    /// Records a failure of `file` (see [`count_failure`]): its count of consecutive failures
    /// with this fingerprint, and quarantine when the count reaches `quarantine_after`.
    async fn record_failure(
        &self,
        run: &ChunkRun<'_>,
        file: &BacklogFile,
        failure: &Failure,
    ) -> Result<FailureCount, Attempt> {
        let fingerprint = failure.fingerprint();
        let count = count_failure(
            file,
            &fingerprint,
            self.settings.quarantine_after,
            run.config.on_bad_file,
        );
        let error = truncate(&failure.to_string());
        let record = FileFailure {
            file_id: file.id.clone(),
            failures: count.failures,
            error: error.clone(),
            fingerprint: Some(fingerprint),
            status: if count.quarantined {
                FileStatus::Quarantined
            } else {
                FileStatus::Landed
            },
            keep_pending: !count.skipped,
        };
        self.backlog
            .record_failure(run.lease, &record, self.clock.now())
            .await
            .map_err(|e| Attempt::store(StoreRequest::RecordFailure, e))?;
        if count.quarantined {
            error!(table_id = %run.lease.table_id, key = %file.key, failures = count.failures,
                error = %error, skipped = count.skipped, "quarantined a DMS file");
        }
        Ok(count)
    }

    /// How a chunk ends after a counted failure of `file` (see [`failure_chunk`]).
    fn failure_chunk(
        &self,
        file: &BacklogFile,
        failure: Failure,
        count: FailureCount,
        done: Done,
    ) -> Chunk {
        failure_chunk(file, failure, count, self.settings.quarantine_after, done)
    }

    /// The head of the backlog is a quarantined file: the table waits (stop) or sets it aside
    /// (skip, e.g. after the configuration changed to skip).
    pub(super) async fn quarantined_head(&self, run: &ChunkRun<'_>, file: &BacklogFile) -> Chunk {
        let error = file.last_error.clone().unwrap_or_default();
        if run.config.on_bad_file == OnBadFile::Stop {
            return Chunk::Failed {
                done: Done::default(),
                error: ChunkError::Blocked {
                    key: file.key.clone(),
                    error,
                },
                quarantined: None,
            };
        }
        let record = FileFailure {
            file_id: file.id.clone(),
            failures: file.failures,
            error,
            fingerprint: file.last_fingerprint.clone(),
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
                Attempt::store(StoreRequest::SetAsideQuarantined, e),
            ),
        }
    }
}
