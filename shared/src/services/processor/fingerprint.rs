//! A failure's fingerprint: its stable identity for counting a file's repeated failures
//! (docs/DESIGN.md §11, "Bad files"). It names the failure's kind and variant — e.g.
//! `merge/bad_file/csv`, `merge/null_key`, `file/processor_died` — and nothing of its text,
//! which carries details (rows, decoder messages) and is cut for display.

use super::failure::{Failure, FailureKind, StoreRequest};
use crate::lake::dms_reader::ReadError;
use crate::lake::refresh::MergeError;
use crate::lake::schema_evolution::SchemaError;
use crate::ports::file_tracker::FailureFingerprint;

impl Failure {
    /// The failure's stable identity: its kind and variant, never its text. Two failures of one
    /// file are the same failure when their fingerprints are equal.
    pub(super) fn fingerprint(&self) -> FailureFingerprint {
        let detail = match self {
            Failure::Merge(e) | Failure::FencedAtCommit(e) => merge_code(e),
            Failure::Storage(_) => "snapshot".to_owned(),
            Failure::Catalog(_) => "publish".to_owned(),
            Failure::StateStore { request, .. } => request.code().to_owned(),
            Failure::BadStagingKey { .. } => "bad_staging_key".to_owned(),
            Failure::AppliedVersion(_) => "applied_version".to_owned(),
            Failure::ProcessorDied => "processor_died".to_owned(),
        };
        FailureFingerprint::new(format!("{}/{detail}", self.kind().code()))
    }
}

impl FailureKind {
    /// The kind's name in fingerprints.
    fn code(self) -> &'static str {
        match self {
            FailureKind::Merge => "merge",
            FailureKind::Storage => "storage",
            FailureKind::Catalog => "catalog",
            FailureKind::StateStore => "state_store",
            FailureKind::LeaseLost => "lease_lost",
            FailureKind::File => "file",
        }
    }
}

impl StoreRequest {
    /// The request's name in fingerprints.
    fn code(self) -> &'static str {
        match self {
            StoreRequest::ReadPending => "read_pending",
            StoreRequest::ReadVersions => "read_versions",
            StoreRequest::RecordAttempt => "record_attempt",
            StoreRequest::RecordSuperseded => "record_superseded",
            StoreRequest::RecordProcessed => "record_processed",
            StoreRequest::RecordFailure => "record_failure",
            StoreRequest::SetAsideQuarantined => "set_aside_quarantined",
        }
    }
}

/// The variant of a merge error, with the variant of the file or schema error it wraps.
fn merge_code(error: &MergeError) -> String {
    let code = match error {
        MergeError::BadFile(e) => return format!("bad_file/{}", read_code(e)),
        MergeError::Schema(e) => return format!("schema/{}", schema_code(e)),
        MergeError::BadOrdering { .. } => "bad_ordering",
        MergeError::UnsupportedType { .. } => "unsupported_type",
        MergeError::IcebergSchema { .. } => "iceberg_schema",
        MergeError::Iceberg(_) => "iceberg",
        MergeError::MissingColumn { .. } => "missing_column",
        MergeError::NullKey { .. } => "null_key",
        MergeError::PartitionKeyClash { .. } => "partition_key_clash",
        MergeError::FormatChanged { .. } => "format_changed",
        MergeError::PartitionLimit { .. } => "partition_limit",
        MergeError::Partition(_) => "partition",
        MergeError::LakeFile(_) => "lake_file",
        MergeError::Snapshot(_) => "snapshot",
        MergeError::CommitRefused(_) => "commit_refused",
        MergeError::BadRefreshId(_) => "bad_refresh_id",
        MergeError::Arrow { .. } => "arrow",
    };
    code.to_owned()
}

/// The variant of a DMS file's read error.
fn read_code(error: &ReadError) -> &'static str {
    match error {
        ReadError::Storage { .. } => "storage",
        ReadError::VersionGone { .. } => "version_gone",
        ReadError::TooLarge { .. } => "too_large",
        ReadError::NotParquet { .. } => "not_parquet",
        ReadError::NotGzip { .. } => "not_gzip",
        ReadError::Csv { .. } => "csv",
        ReadError::ColumnsNotDeclared { .. } => "columns_not_declared",
        ReadError::MissingOpColumn { .. } => "missing_op_column",
        ReadError::OpColumnType { .. } => "op_column_type",
        ReadError::UnknownHeaderColumn { .. } => "unknown_header_column",
        ReadError::DuplicateHeaderColumn { .. } => "duplicate_header_column",
        ReadError::ColumnCount { .. } => "column_count",
        ReadError::Unparsable { .. } => "unparsable",
        ReadError::Unconvertible { .. } => "unconvertible",
        ReadError::UnknownOp { .. } => "unknown_op",
        ReadError::Internal { .. } => "internal",
    }
}

/// The variant of a schema error.
fn schema_code(error: &SchemaError) -> &'static str {
    match error {
        SchemaError::Incompatible { .. } => "incompatible",
        SchemaError::DuplicateColumn { .. } => "duplicate_column",
        SchemaError::UnexpectedColumn { .. } => "unexpected_column",
        SchemaError::NotWidening { .. } => "not_widening",
        SchemaError::Arrow(_) => "arrow",
    }
}

#[cfg(test)]
#[path = "fingerprint_test.rs"]
mod tests;
