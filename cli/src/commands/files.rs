//! `tributary files`: the tracked DMS files of a table, or the objects in no table's backlog
//! (`--status unregistered|unrecognized`).

use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tributary_shared::ports::file_tracker::{FileStatus, TrackedFile};

use super::unrouted::{self, UnroutedRow};
use crate::connection::{Connection, Session};
use crate::output::{Output, TextTable};

/// Arguments of `tributary files`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).multiple(true).args(["table", "status"])))]
pub struct FilesArgs {
    /// The table (`schema.table` id, or the DMS folders `schema/table`); registered or not.
    #[arg(long, value_parser = crate::table_arg::table_id)]
    table: Option<String>,
    /// Only files in this state: landed, processed, quarantined, unregistered, unrecognized
    /// (the last two need no `--table`).
    #[arg(long, value_parser = parse_status)]
    status: Option<FileStatus>,
}

fn parse_status(text: &str) -> Result<FileStatus, String> {
    FileStatus::from_name(text).ok_or_else(|| {
        format!(
            "{text:?} is not a file status: landed, processed, quarantined, superseded, \
             unregistered or unrecognized"
        )
    })
}

/// A file as `files --json` prints it.
#[derive(Debug, Serialize)]
struct FileRow {
    id: String,
    key: String,
    kind: &'static str,
    format: &'static str,
    status: &'static str,
    pending: bool,
    size: Option<u64>,
    landed_at: DateTime<Utc>,
    failures: u32,
    last_error: Option<String>,
    refresh_id: Option<String>,
    processed_at: Option<DateTime<Utc>>,
    superseded_by: Option<String>,
}

impl From<TrackedFile> for FileRow {
    fn from(tracked: TrackedFile) -> FileRow {
        let file = tracked.file;
        FileRow {
            id: file.id,
            key: file.key,
            kind: file.kind.as_str(),
            format: file.format.as_str(),
            status: file.status.as_str(),
            pending: tracked.pending,
            size: file.size,
            landed_at: file.landed_at,
            failures: file.failures,
            last_error: file.last_error,
            refresh_id: tracked.refresh_id,
            processed_at: tracked.processed_at,
            superseded_by: tracked.superseded_by,
        }
    }
}

/// `tributary files`.
pub async fn files(connection: &Connection, output: &Output, args: FilesArgs) -> Result<ExitCode> {
    let session = connection.session().await?;
    let unrouted_status = matches!(
        args.status,
        Some(FileStatus::Unregistered | FileStatus::Unrecognized)
    );
    let Some(table) = args.table.as_deref().filter(|_| !unrouted_status) else {
        return unrouted_files(&session, output, args.status, args.table.as_deref()).await;
    };
    let files: Vec<FileRow> = session
        .file_tracker()
        .tracked_files(table, args.status)
        .await
        .with_context(|| format!("cannot list the files of {table}"))?
        .into_iter()
        .map(FileRow::from)
        .collect();
    output.emit(&files, |files| {
        let mut text = TextTable::new(&[
            "key",
            "kind",
            "format",
            "status",
            "size",
            "landed",
            "failures",
            "error / reason",
        ]);
        for f in files {
            text.row(vec![
                f.key.clone(),
                f.kind.to_owned(),
                f.format.to_owned(),
                f.status.to_owned(),
                f.size.map(|s| s.to_string()).unwrap_or_default(),
                f.landed_at.format("%F %T").to_string(),
                f.failures.to_string(),
                f.superseded_by
                    .clone()
                    .or_else(|| f.last_error.clone())
                    .unwrap_or_default(),
            ]);
        }
        format!("{}{} file(s)\n", text.render(), files.len())
    });
    Ok(ExitCode::SUCCESS)
}

/// `files --status unregistered|unrecognized [--table T]`: the objects in no backlog.
async fn unrouted_files(
    session: &Session,
    output: &Output,
    status: Option<FileStatus>,
    table: Option<&str>,
) -> Result<ExitCode> {
    let rows: Vec<UnroutedRow> = unrouted::list(session)
        .await?
        .iter()
        .filter(|r| status.is_none_or(|s| s == r.status))
        .filter(|r| table.is_none_or(|t| r.table_id.as_deref() == Some(t)))
        .map(UnroutedRow::from)
        .collect();
    output.emit(&rows, |rows| {
        let mut text = TextTable::new(&["key", "status", "table", "size", "landed", "reason"]);
        for r in rows {
            text.row(vec![
                r.key.clone(),
                r.status.to_owned(),
                r.table.clone().unwrap_or_default(),
                r.size.map(|s| s.to_string()).unwrap_or_default(),
                r.landed_at.format("%F %T").to_string(),
                r.reason.clone(),
            ]);
        }
        format!("{}{} object(s)\n", text.render(), rows.len())
    });
    Ok(ExitCode::SUCCESS)
}
