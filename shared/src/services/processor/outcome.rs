//! What a table's refresh comes to (docs/DESIGN.md §11, "Bad files, failures and deadlines" and
//! "Output"): pure rules from what happened — a table not run, a chunk's files, a chunk's
//! failure, a lost lease, the deadline — to the table's summary, the outcome of its history
//! items, whether its run goes on, and whether a failing file is quarantined.

use std::fmt::Display;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::failure::{ChunkError, Failure, NotRun};
use crate::contract::TableSummary;
use crate::lake::table_config::OnBadFile;
use crate::ports::file_tracker::{BacklogFile, FailureFingerprint};
use crate::ports::processing_tracker::{RefreshOutcomeKind, RefreshTotals};

/// Longest error message a summary carries.
pub(super) const MAX_ERROR_CHARS: usize = 1_000;
/// Most quarantined files a table summary lists.
pub(super) const MAX_LISTED_QUARANTINED: usize = 20;

impl TableSummary {
    /// A table's summary before anything is counted.
    pub(super) fn new(table: &str, outcome: RefreshOutcomeKind) -> Self {
        TableSummary {
            table: table.to_owned(),
            outcome,
            refreshes: 0,
            totals: RefreshTotals::default(),
            more_pending: false,
            lag_seconds: None,
            quarantined: Vec::new(),
            error: None,
            duration_ms: 0,
        }
    }

    fn mark_failed(&mut self, error: &impl Display) {
        self.outcome = RefreshOutcomeKind::Failed;
        self.error = Some(truncate(&error.to_string()));
    }
}

/// The summary of a table that was not run: `busy` and `inactive` carry no error, a failure
/// does.
pub(super) fn not_run_summary(table_id: &str, not_run: &NotRun) -> TableSummary {
    let mut summary = TableSummary::new(table_id, not_run.outcome());
    if summary.outcome == RefreshOutcomeKind::Failed {
        summary.mark_failed(not_run);
    }
    summary
}

/// Whether less than `needed` is left between `now` and the invocation's `deadline`: then no
/// table and no further chunk is started (the table is `deferred`, or stops with more pending).
pub(super) fn too_late(now: DateTime<Utc>, deadline: DateTime<Utc>, needed: Duration) -> bool {
    let left = (deadline - now).to_std().unwrap_or(Duration::ZERO);
    left < needed
}

/// What a chunk did to the table's files.
#[derive(Debug, Default)]
pub(super) struct Done {
    /// Counts.
    pub totals: RefreshTotals,
    /// Tracker ids of the files now processed.
    pub files: Vec<String>,
    /// Tracker ids of the files now superseded.
    pub superseded: Vec<String>,
    /// The snapshot published.
    pub snapshot_version: Option<u64>,
}

impl Done {
    /// Adds what `other` did.
    pub(super) fn absorb(&mut self, other: Done) {
        self.totals.add(&other.totals);
        self.files.extend(other.files);
        self.superseded.extend(other.superseded);
        self.snapshot_version = other.snapshot_version.or(self.snapshot_version);
    }

    /// Whether any file was applied or set aside.
    pub(super) fn progressed(&self) -> bool {
        !self.files.is_empty() || !self.superseded.is_empty()
    }
}

/// How a chunk ended.
#[derive(Debug)]
pub(super) enum Chunk {
    /// Nothing pending.
    Empty,
    /// Files were applied (or found applied) or superseded.
    Applied(Done),
    /// A file was quarantined and left aside (`on_bad_file: skip`), after the files before it
    /// were applied; go on.
    SkippedBadFile {
        /// What the files before it did.
        done: Done,
        /// The quarantined file's key.
        key: String,
    },
    /// The table cannot go on in this invocation (after the files before a bad one were
    /// applied).
    Failed {
        /// What the files before the failure did.
        done: Done,
        /// Why the table stops.
        error: ChunkError,
        /// The key of a file this chunk quarantined.
        quarantined: Option<String>,
    },
    /// Another processor took the lease over: this one lost the table (not a failure).
    LostLease {
        /// What the chunk did before.
        done: Done,
        /// The refused write.
        error: Failure,
    },
}

impl Chunk {
    /// A chunk stopped by a failed step, before it did anything.
    pub(super) fn failed(failure: Failure) -> Chunk {
        Chunk::Failed {
            done: Done::default(),
            error: ChunkError::Step(failure),
            quarantined: None,
        }
    }

    /// What the chunk leaves to record; a quarantined file is listed in `summary`.
    pub(super) fn end(self, summary: &mut TableSummary) -> ChunkEnd {
        let (done, error, skipped) = match self {
            Chunk::Empty => (Done::default(), None, false),
            Chunk::Applied(done) => (done, None, false),
            Chunk::SkippedBadFile { done, key } => {
                push_quarantined(summary, key);
                (done, None, true)
            }
            Chunk::Failed {
                done,
                error,
                quarantined,
            } => {
                if let Some(key) = quarantined {
                    push_quarantined(summary, key);
                }
                (done, Some(error), false)
            }
            Chunk::LostLease { done, error } => (done, Some(ChunkError::Step(error)), false),
        };
        ChunkEnd {
            moved: skipped || done.progressed(),
            done,
            error,
        }
    }
}

/// What a chunk leaves to record.
#[derive(Debug)]
pub(super) struct ChunkEnd {
    /// What its files did.
    pub done: Done,
    /// Why it stopped the table.
    pub error: Option<ChunkError>,
    /// Whether the backlog moved: files applied, superseded or set aside.
    pub moved: bool,
}

/// Adds a chunk to the table's summary; returns the outcome of its history item: `failed` with
/// an error (and more files stay pending), `no_files` when the table's first chunk found nothing
/// to do, else `completed`.
pub(super) fn add_chunk(
    summary: &mut TableSummary,
    done: &Done,
    error: Option<&ChunkError>,
    earlier_chunks: bool,
) -> RefreshOutcomeKind {
    let outcome = if error.is_some() {
        RefreshOutcomeKind::Failed
    } else if !done.progressed() && !earlier_chunks && summary.quarantined.is_empty() {
        RefreshOutcomeKind::NoFiles
    } else {
        RefreshOutcomeKind::Completed
    };
    if !done.files.is_empty() {
        summary.refreshes += 1;
    }
    summary.totals.add(&done.totals);
    summary.outcome = outcome;
    if let Some(error) = error {
        summary.mark_failed(error);
        summary.more_pending = true;
    }
    outcome
}

/// Whether a table's run goes on after a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// Run the next chunk.
    Chunk,
    /// The table is done for this invocation.
    Stop,
    /// Stop with files left for the next run.
    StopMorePending,
}

/// Whether the run goes on after a chunk of `outcome` that `moved` the backlog or not: only a
/// completed chunk goes on, and a chunk that moved nothing (e.g. the backlog still shows files
/// this run recorded) leaves the rest to the next run.
pub(super) fn after_chunk(outcome: RefreshOutcomeKind, moved: bool) -> Next {
    if outcome != RefreshOutcomeKind::Completed {
        Next::Stop
    } else if !moved {
        Next::StopMorePending
    } else {
        Next::Chunk
    }
}

/// The summary of a table whose lease another processor took over during the refresh: it lost
/// the table (`busy`); nothing is counted as a failure, and the new holder finishes the work.
pub(super) fn lost_table(mut summary: TableSummary, done: &Done, error: &Failure) -> TableSummary {
    summary.totals.add(&done.totals);
    summary.outcome = RefreshOutcomeKind::Busy;
    summary.more_pending = false;
    summary.error = Some(truncate(&format!(
        "lost the table to another processor: {error}"
    )));
    summary
}

/// A failure counted on a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FailureCount {
    /// Its consecutive failures of the same fingerprint, this one included.
    pub failures: u32,
    /// Whether it is quarantined now.
    pub quarantined: bool,
    /// Whether it leaves the backlog (quarantined, and the table skips bad files).
    pub skipped: bool,
}

/// Counts a failure with `fingerprint` of `file`: one more when its last failure had the same
/// fingerprint, else the first (a file recorded before fingerprints existed starts again).
/// `quarantine_after` of them quarantine it.
pub(super) fn count_failure(
    file: &BacklogFile,
    fingerprint: &FailureFingerprint,
    quarantine_after: u32,
    on_bad_file: OnBadFile,
) -> FailureCount {
    let failures = if file.last_fingerprint.as_ref() == Some(fingerprint) {
        file.failures.saturating_add(1)
    } else {
        1
    };
    let quarantined = failures >= quarantine_after;
    FailureCount {
        failures,
        quarantined,
        skipped: quarantined && on_bad_file == OnBadFile::Skip,
    }
}

/// How a chunk ends after `failure` of `file` was counted: the file is set aside (skip), or the
/// table stops at it, quarantined or not yet.
pub(super) fn failure_chunk(
    file: &BacklogFile,
    failure: Failure,
    count: FailureCount,
    quarantine_after: u32,
    done: Done,
) -> Chunk {
    let key = file.key.clone();
    let failures = count.failures;
    if count.skipped {
        return Chunk::SkippedBadFile { done, key };
    }
    if count.quarantined {
        return Chunk::Failed {
            done,
            error: ChunkError::Quarantined {
                key: key.clone(),
                failures,
                failure,
            },
            quarantined: Some(key),
        };
    }
    Chunk::Failed {
        done,
        error: ChunkError::Counted {
            failure,
            failures,
            quarantine_after,
        },
        quarantined: None,
    }
}

/// Lists a quarantined file in the summary, up to [`MAX_LISTED_QUARANTINED`].
fn push_quarantined(summary: &mut TableSummary, key: String) {
    if summary.quarantined.len() < MAX_LISTED_QUARANTINED {
        summary.quarantined.push(key);
    }
}

/// `text` cut to [`MAX_ERROR_CHARS`] characters.
pub(super) fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
#[path = "outcome_test.rs"]
mod tests;
