//! `tributary history`: the refresh history of a table, newest first.

use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tributary_shared::ports::processing_tracker::{RefreshOutcomeKind, RefreshTotals};

use super::registry::registered;
use crate::connection::Connection;
use crate::output::{Output, TextTable};

/// Arguments of `tributary history`.
#[derive(clap::Args)]
pub struct HistoryArgs {
    /// The table (`schema.table` id, or the DMS folders `schema/table`).
    #[arg(long, value_parser = crate::table_arg::table_id)]
    table: String,
    /// How many refreshes, newest first.
    #[arg(long, default_value_t = 20)]
    limit: usize,
}

/// A history item as `history --json` prints it.
#[derive(Debug, Serialize)]
struct HistoryRow {
    refresh_id: String,
    owner: String,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
    outcome: RefreshOutcomeKind,
    #[serde(flatten)]
    totals: RefreshTotals,
    error: Option<String>,
    snapshot_version: Option<u64>,
}

/// `tributary history`.
pub async fn history(
    connection: &Connection,
    output: &Output,
    args: HistoryArgs,
) -> Result<ExitCode> {
    let session = connection.session().await?;
    registered(&session, &args.table).await?;
    let rows: Vec<HistoryRow> = session
        .processing_tracker()
        .latest_history(&args.table, args.limit)
        .await
        .with_context(|| format!("cannot read the history of {}", args.table))?
        .into_iter()
        .map(|r| HistoryRow {
            refresh_id: r.refresh_id,
            owner: r.owner,
            started_at: r.started_at,
            finished_at: r.finished_at,
            outcome: r.outcome,
            totals: r.totals,
            error: r.error,
            snapshot_version: r.snapshot_version,
        })
        .collect();
    output.emit(&rows, |rows| history_text(rows));
    Ok(ExitCode::SUCCESS)
}

/// The history as an aligned table: row counts with `superseded` (changes overtaken in their
/// refresh) apart from `ignored`, and the files superseded by another version of their key.
fn history_text(rows: &[HistoryRow]) -> String {
    let mut text = TextTable::new(&[
        "started",
        "seconds",
        "outcome",
        "files",
        "inserted",
        "updated",
        "deleted",
        "ignored",
        "superseded",
        "files superseded",
        "error",
    ]);
    for r in rows {
        text.row(vec![
            r.started_at.format("%F %T").to_string(),
            format!(
                "{:.1}",
                (r.finished_at - r.started_at).num_milliseconds() as f64 / 1000.0
            ),
            r.outcome.as_str().to_owned(),
            r.totals.files.to_string(),
            r.totals.inserted.to_string(),
            r.totals.updated.to_string(),
            r.totals.deleted.to_string(),
            r.totals.ignored.to_string(),
            r.totals.superseded.to_string(),
            r.totals.files_superseded.to_string(),
            r.error.clone().unwrap_or_default(),
        ]);
    }
    text.render()
}

#[cfg(test)]
#[path = "history_test.rs"]
mod tests;
