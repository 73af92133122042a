//! `tributary status`: per table, its cadence and format, the backlog, lag, last refresh, lease,
//! quarantined files and a health verdict (its rules are in `health.rs`), and the objects in no
//! table's backlog.

use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt, stream};
use serde::Serialize;
use tributary_shared::lake::table_config::{TableFormat, TableSpec};
use tributary_shared::ports::file_tracker::{BacklogOverview, FileStatus};
use tributary_shared::ports::table_registry::RegisteredTable;

use super::health::{Health, LastRefresh, LeaseStatus, Thresholds, judge, lag_seconds};
use super::registry::{all_registered, registered};
use super::unrouted::{self, UnroutedSummary};
use crate::connection::{Connection, Session};
use crate::output::{Output, TextTable};

/// Tables read at once by `status`.
const STATUS_CONCURRENCY: usize = 8;
/// Newest history items `status` reads per table: the latest refresh, and the lease holder's
/// newest recorded refresh among them (other processors' `busy` items may come in between).
const STATUS_HISTORY_ITEMS: usize = 10;

/// Arguments of `tributary status`.
#[derive(clap::Args)]
pub struct StatusArgs {
    /// Only this table (`schema.table` id, or the DMS folders `schema/table`).
    #[arg(long, value_parser = crate::table_arg::table_id)]
    table: Option<String>,
    /// A table whose oldest pending file is older than this many seconds is `lagging`.
    #[arg(long, default_value_t = 3600)]
    lag_threshold_seconds: i64,
    /// A table with pending files whose lease holder has shown no progress (took the lease or
    /// recorded a refresh) for this many seconds is `busy`: its holder has probably crashed and
    /// the table waits until the lease lapses. Keep it above the time one chunk of your largest
    /// table takes, so a refresh in flight is not reported.
    #[arg(long, default_value_t = 300)]
    busy_after_seconds: i64,
    /// Exit with status 1 when any active table is not healthy (for scripts and cron checks).
    #[arg(long)]
    check: bool,
}

/// What `status` reports for one table.
#[derive(Debug, Clone, Serialize)]
pub struct TableStatus {
    /// `schema.table`.
    pub table: String,
    /// Whether it is refreshed.
    pub active: bool,
    /// Its cadence.
    pub cadence: String,
    /// The table format its configuration names (`None`: the configuration is unreadable).
    pub format: Option<TableFormat>,
    /// Pending files (landed, or quarantined and blocking).
    pub pending_files: u64,
    /// Their bytes.
    pub pending_bytes: u64,
    /// Seconds since the oldest pending file landed.
    pub lag_seconds: Option<i64>,
    /// Quarantined files (blocking or set aside).
    pub quarantined_files: usize,
    /// The latest refresh attempt.
    pub last_refresh: Option<LastRefresh>,
    /// The table's lease, while one is held or when its holder never released it.
    pub lease: Option<LeaseStatus>,
    /// The verdict.
    pub health: Health,
    /// Why, in words.
    pub reasons: Vec<String>,
}

/// What `status` reports: every table, and the objects in no table's backlog.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    /// Per registered table.
    pub tables: Vec<TableStatus>,
    /// Unregistered and unrecognized objects.
    pub unrouted: UnroutedSummary,
}

/// `tributary status`.
pub async fn status(
    connection: &Connection,
    output: &Output,
    args: StatusArgs,
) -> Result<ExitCode> {
    let session = connection.session().await?;
    let tables = match &args.table {
        Some(table_id) => vec![registered(&session, table_id).await?],
        None => all_registered(&session).await?,
    };
    let now = Utc::now();
    let thresholds = Thresholds {
        lag_seconds: args.lag_threshold_seconds,
        busy_after_seconds: args.busy_after_seconds,
    };
    let statuses: Vec<TableStatus> = stream::iter(tables)
        .map(|table| table_status(&session, table, now, thresholds))
        .buffered(STATUS_CONCURRENCY)
        .try_collect()
        .await?;
    let unrouted = UnroutedSummary::of(&unrouted::list(&session).await?);
    let report = StatusReport {
        tables: statuses,
        unrouted,
    };
    output.emit(&report, status_text);
    let unhealthy = report.tables.iter().any(|s| s.health.needs_attention())
        || report.unrouted.needs_attention();
    Ok(if args.check && unhealthy {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The report as an aligned table, then the reasons of every active table that is not healthy
/// and what is unrouted.
fn status_text(report: &StatusReport) -> String {
    let statuses = &report.tables;
    if statuses.is_empty() {
        return format!(
            "no tables are registered: apply a manifest with `tributary config apply FILE`\n{}",
            report.unrouted.describe()
        );
    }
    let mut text = TextTable::new(&[
        "table",
        "active",
        "cadence",
        "format",
        "pending",
        "bytes",
        "lag",
        "quarantined",
        "last",
        "finished",
        "ins/upd/del",
        "lease",
        "health",
    ]);
    for s in statuses {
        text.row(status_row(s));
    }
    let mut rendered = text.render();
    for s in statuses
        .iter()
        .filter(|s| !s.reasons.is_empty() && s.active)
    {
        for reason in &s.reasons {
            rendered.push_str(&format!("{}: {reason}\n", s.table));
        }
    }
    rendered.push_str(&report.unrouted.describe());
    rendered
}

/// One table's cells in the status table.
fn status_row(s: &TableStatus) -> Vec<String> {
    let last = s.last_refresh.as_ref();
    vec![
        s.table.clone(),
        yes_no(s.active),
        s.cadence.clone(),
        s.format.map_or("?", TableFormat::as_str).to_owned(),
        s.pending_files.to_string(),
        s.pending_bytes.to_string(),
        s.lag_seconds.map(|l| format!("{l}s")).unwrap_or_default(),
        s.quarantined_files.to_string(),
        last.map(|l| l.outcome.as_str().to_owned())
            .unwrap_or_default(),
        last.map(|l| l.finished_at.format("%F %T").to_string())
            .unwrap_or_default(),
        last.map(|l| {
            format!(
                "{}/{}/{}",
                l.totals.inserted, l.totals.updated, l.totals.deleted
            )
        })
        .unwrap_or_default(),
        s.lease
            .as_ref()
            .map(LeaseStatus::summary)
            .unwrap_or_default(),
        s.health.as_str().to_owned(),
    ]
}

async fn table_status(
    session: &Session,
    table: RegisteredTable,
    now: DateTime<Utc>,
    thresholds: Thresholds,
) -> Result<TableStatus> {
    let id = table.table_id.as_str();
    let tracker = session.file_tracker();
    let processing = session.processing_tracker();
    let context = || format!("cannot read the state of {id}");
    let (backlog, quarantined, state, latest) = futures::try_join!(
        tracker.backlog_summary(id),
        tracker.tracked_files(id, Some(FileStatus::Quarantined)),
        processing.table_state(id),
        processing.latest_history(id, STATUS_HISTORY_ITEMS),
    )
    .with_context(context)?;
    let last_refresh = latest.first().map(LastRefresh::from);
    let lease = state.and_then(|state| LeaseStatus::from_state(&state, &latest, now));
    let (health, reasons) = judge(
        table.active,
        &backlog,
        quarantined.len(),
        last_refresh.as_ref(),
        lease.as_ref(),
        now,
        thresholds,
    );
    Ok(TableStatus {
        format: configured_format(&table.spec_json),
        active: table.active,
        cadence: table.refresh_cadence,
        pending_files: backlog.files,
        pending_bytes: backlog.bytes,
        lag_seconds: lag_seconds(&backlog, now),
        quarantined_files: quarantined.len(),
        last_refresh,
        lease,
        health,
        reasons,
        table: table.table_id,
    })
}

/// The format a stored table configuration names (its default when it names none), `None` when
/// the configuration is not a table configuration.
fn configured_format(spec_json: &str) -> Option<TableFormat> {
    serde_json::from_str::<TableSpec>(spec_json)
        .ok()
        .map(|spec| spec.target.format)
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_owned()
}
