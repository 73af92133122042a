//! Typed failures of the processor (docs/DESIGN.md §11, "Bad files, failures and deadlines"):
//! why a table was not refreshed ([`NotRun`]), why a step of a chunk failed ([`Failure`]: the
//! merge, the lake's storage, the catalog, a state store, or a rule about a file) and whose fault
//! that is ([`Cause`]), and why a chunk stopped its table ([`ChunkError`]).
//!
//! A failure's fingerprint ([`super::fingerprint`]) is its stable identity — its kind and
//! variant, never its text — by which repeated failures of one file are counted towards
//! quarantine. Texts are made only where a summary or an item shows them.

use chrono::{DateTime, Utc};
use thiserror::Error;

use super::outcome::truncate;
use crate::lake::refresh::MergeError;
use crate::lake::snapshot::SnapshotError;
use crate::lake::table_config::TableConfigError;
use crate::ports::file_tracker::BacklogFile;
use crate::ports::processing_tracker::RefreshOutcomeKind;
use crate::ports::state_store::StoreError;
use crate::services::publisher::PublishError;

/// Why a table was not refreshed: found before its lease was held, or the lease was not had.
#[derive(Debug, Error)]
pub(super) enum NotRun {
    /// The batch names the table a second time.
    #[error("listed twice in one batch; it was refreshed once")]
    ListedTwice,
    /// No configuration is registered for the table.
    #[error(
        "table {0} is not registered; fix: add it to the manifest and run `tributary config apply`"
    )]
    NotRegistered(String),
    /// The registry could not be read.
    #[error("could not read the table registry: {0}")]
    Registry(StoreError),
    /// The table is registered inactive.
    #[error("table {0} is inactive")]
    Inactive(String),
    /// The registered configuration is not valid.
    #[error("invalid configuration of {table_id}: {source}")]
    InvalidConfig {
        /// The table.
        table_id: String,
        /// What is wrong with the configuration.
        source: TableConfigError,
    },
    /// The configuration registered under the table's id describes another source table.
    #[error(
        "the configuration registered as {table_id} describes source {described}; fix the manifest"
    )]
    OtherTable {
        /// The id it is registered under.
        table_id: String,
        /// The source table it describes.
        described: String,
    },
    /// Another processor holds an unexpired lease on the table.
    #[error("lease held by {owner} until {expires_at}")]
    Busy {
        /// The holder.
        owner: String,
        /// When its lease lapses.
        expires_at: DateTime<Utc>,
    },
    /// The lease could not be asked for.
    #[error("could not take the table's lease: {0}")]
    LeaseUnavailable(StoreError),
}

/// A state-store request of a chunk, as its failure names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StoreRequest {
    /// Reading the table's pending files.
    ReadPending,
    /// Reading every tracked version of the pending files' keys.
    ReadVersions,
    /// Recording that a refresh starts applying files.
    RecordAttempt,
    /// Recording a file superseded.
    RecordSuperseded,
    /// Recording the applied files processed.
    RecordProcessed,
    /// Recording a file's failure.
    RecordFailure,
    /// Taking a quarantined file out of the backlog (`on_bad_file: skip`).
    SetAsideQuarantined,
}

impl StoreRequest {
    /// What the request was doing, for its failure's text.
    fn doing(self) -> &'static str {
        match self {
            StoreRequest::ReadPending => "reading the pending files",
            StoreRequest::ReadVersions => "reading the versions of the pending files",
            StoreRequest::RecordAttempt => "recording the attempt",
            StoreRequest::RecordSuperseded => "recording a superseded file",
            StoreRequest::RecordProcessed => "recording the processed files",
            StoreRequest::RecordFailure => "recording the failure",
            StoreRequest::SetAsideQuarantined => "setting the quarantined file aside",
        }
    }
}

/// The text of a failed state-store request.
fn store_message(request: &StoreRequest, source: &StoreError) -> String {
    match request {
        StoreRequest::ReadPending => format!("could not read the pending files: {source}"),
        request => format!("{} failed: {source}", request.doing()),
    }
}

/// Why a step of a chunk failed.
#[derive(Debug, Error)]
pub(super) enum Failure {
    /// The merge engine failed; nothing was committed. (Boxed: the engine's error is the
    /// largest, and failures are handed along every step.)
    #[error(transparent)]
    Merge(Box<MergeError>),
    /// The merge was refused at its commit point because another processor took the table's
    /// lease over; nothing was committed.
    #[error(transparent)]
    FencedAtCommit(Box<MergeError>),
    /// The lake's storage failed (reading its latest snapshot).
    #[error("could not read the lake snapshot: {0}")]
    Storage(SnapshotError),
    /// Publishing to the catalog failed.
    #[error("publishing to the catalog failed: {0}")]
    Catalog(PublishError),
    /// A state-store request failed (among them, a fenced write refused for a lost lease).
    #[error("{}", store_message(.request, .source))]
    StateStore {
        /// The request.
        request: StoreRequest,
        /// Its error.
        source: StoreError,
    },
    /// A file's staging key is not a valid object path.
    #[error("staging key {key:?} is not a valid object path: {source}")]
    BadStagingKey {
        /// The key.
        key: String,
        /// Why it is not a path.
        source: object_store::path::Error,
    },
    /// A new version of a file already applied to a `history` table.
    #[error(transparent)]
    AppliedVersion(AppliedVersion),
    /// The processor died applying this file alone. Always the same failure, so that such
    /// deaths count as repeated failures of one kind.
    #[error(
        "the processor died (out of memory or timeout) while applying this file alone, and nothing of it was applied; fix: give the processor more memory or time (or lower TRIBUTARY_MAX_BYTES_PER_REFRESH), or replace the file, then retry it"
    )]
    ProcessorDied,
}

/// A new version of a file already applied to a `history` table: applying it would add its
/// rows a second time.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "{key}: another version of this file was already applied to this history table ({applied}); applying this one would add its rows a second time. Fix: if the new version must replace the old rows, rebuild the table from its DMS files; otherwise leave this version quarantined (with on_bad_file: skip later files go on)"
)]
pub(super) struct AppliedVersion {
    /// The file's key.
    pub key: String,
    /// The tracker id of the version applied.
    pub applied: String,
}

/// What failed, by the dependency or rule that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FailureKind {
    /// The merge engine.
    Merge,
    /// The lake's storage.
    Storage,
    /// The catalog.
    Catalog,
    /// A state store (file tracker, processing tracker).
    StateStore,
    /// The table's lease was taken over by another processor.
    LeaseLost,
    /// A rule about one file (its key, its version, a processor dying on it).
    File,
}

impl Failure {
    /// What failed.
    pub(super) fn kind(&self) -> FailureKind {
        match self {
            Failure::Merge(_) => FailureKind::Merge,
            Failure::FencedAtCommit(_)
            | Failure::StateStore {
                source: StoreError::LeaseLost { .. },
                ..
            } => FailureKind::LeaseLost,
            Failure::Storage(_) => FailureKind::Storage,
            Failure::Catalog(_) => FailureKind::Catalog,
            Failure::StateStore { .. } => FailureKind::StateStore,
            Failure::BadStagingKey { .. } | Failure::AppliedVersion(_) | Failure::ProcessorDied => {
                FailureKind::File
            }
        }
    }
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

/// A failed attempt over some files, with whose fault it is.
#[derive(Debug)]
pub(super) struct Attempt {
    /// What failed.
    pub failure: Failure,
    /// Whose fault it is.
    pub cause: Cause,
}

impl Attempt {
    /// A failed state-store request: a lost lease, trouble worth retrying, or the table's.
    pub(super) fn store(request: StoreRequest, source: StoreError) -> Attempt {
        let cause = match &source {
            StoreError::LeaseLost { .. } => Cause::LeaseLost,
            e if e.is_retryable() => Cause::Transient,
            _ => Cause::Table,
        };
        Attempt {
            failure: Failure::StateStore { request, source },
            cause,
        }
    }

    /// A failed merge of `files`; `lease_lost` when the commit guard found the lease taken over.
    pub(super) fn merge(error: MergeError, files: &[BacklogFile], lease_lost: bool) -> Attempt {
        if lease_lost {
            return Attempt {
                failure: Failure::FencedAtCommit(Box::new(error)),
                cause: Cause::LeaseLost,
            };
        }
        let named = error
            .bad_file()
            .and_then(|path| files.iter().position(|f| f.key == path));
        let cause = if error.is_retryable() {
            Cause::Transient
        } else if let Some(index) = named {
            Cause::File(index)
        } else if error.is_table_problem() {
            Cause::Table
        } else {
            Cause::Unattributed
        };
        Attempt {
            failure: Failure::Merge(Box::new(error)),
            cause,
        }
    }

    /// A failed publish: worth retrying, or the table's.
    pub(super) fn publish(error: PublishError) -> Attempt {
        Attempt {
            cause: if error.is_retryable() {
                Cause::Transient
            } else {
                Cause::Table
            },
            failure: Failure::Catalog(error),
        }
    }
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

/// Why a chunk stopped its table, as the table's summary and history item report it.
#[derive(Debug, Error)]
pub(super) enum ChunkError {
    /// A step failed; no file is blamed.
    #[error(transparent)]
    Step(Failure),
    /// A file failed and its failure is counted; it is not quarantined yet.
    #[error("{} (failure {failures} of {quarantine_after} before quarantine)", truncate(&.failure.to_string()))]
    Counted {
        /// The file's failure.
        failure: Failure,
        /// Its consecutive failures so far.
        failures: u32,
        /// Failures before quarantine.
        quarantine_after: u32,
    },
    /// A file was quarantined, and the table waits for it (`on_bad_file: stop`).
    #[error(
        "quarantined {key} after {failures} failures: {}; the table stops here (on_bad_file: stop) until the file is fixed and retried", truncate(&.failure.to_string())
    )]
    Quarantined {
        /// The file's key.
        key: String,
        /// Its consecutive failures.
        failures: u32,
        /// The last of them.
        failure: Failure,
    },
    /// A file failed, and recording its failure failed too.
    #[error("{} (and {recording})", truncate(&.failure.to_string()))]
    Uncounted {
        /// The file's failure.
        failure: Failure,
        /// Why it could not be recorded.
        recording: Failure,
    },
    /// The head of the backlog is a quarantined file and the table waits for it.
    #[error(
        "blocked by quarantined file {key}: {error}; fix the file and run `tributary retry --file {key}`, or set on_bad_file: skip"
    )]
    Blocked {
        /// The file's key.
        key: String,
        /// The error recorded on it.
        error: String,
    },
}

impl NotRun {
    /// The table's outcome: `busy`, `inactive`, or `failed`.
    pub(super) fn outcome(&self) -> RefreshOutcomeKind {
        match self {
            NotRun::Busy { .. } => RefreshOutcomeKind::Busy,
            NotRun::Inactive(_) => RefreshOutcomeKind::Inactive,
            NotRun::ListedTwice
            | NotRun::NotRegistered(_)
            | NotRun::Registry(_)
            | NotRun::InvalidConfig { .. }
            | NotRun::OtherTable { .. }
            | NotRun::LeaseUnavailable(_) => RefreshOutcomeKind::Failed,
        }
    }

    /// Whether a history item records it: what was found about the table (its configuration,
    /// another holder), not a batch's mistake or a lease that could not be asked for.
    pub(super) fn recorded(&self) -> bool {
        !matches!(self, NotRun::ListedTwice | NotRun::LeaseUnavailable(_))
    }
}

#[cfg(test)]
#[path = "failure_test.rs"]
pub(super) mod tests;
