//! Operating a pipeline: `status`, `files`, `history`, `refresh` and `retry`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt, stream};
use serde::Serialize;
use serde_json::json;
use tributary_shared::adapters::dynamodb_processing_tracker::TableState;
use tributary_shared::ports::file_tracker::{
    BacklogFile, BacklogOverview, BacklogSummary, FileStatus, TrackedFile, UnroutedRecord,
};
use tributary_shared::ports::processing_tracker::{
    RefreshOutcomeKind, RefreshRecord, RefreshTotals,
};
use tributary_shared::ports::table_registry::RegisteredTable;

use crate::connection::{Connection, Session};
use crate::output::{Output, TextTable};
use crate::unrouted::{self, UnroutedRow, UnroutedSummary};

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
    fn as_str(self) -> &'static str {
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

/// What `status` reports for one table.
#[derive(Debug, Clone, Serialize)]
pub struct TableStatus {
    /// `schema.table`.
    pub table: String,
    /// Whether it is refreshed.
    pub active: bool,
    /// Its cadence.
    pub cadence: String,
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
    fn from_state(
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
    fn summary(&self) -> String {
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

fn lag_seconds(backlog: &BacklogSummary, now: DateTime<Utc>) -> Option<i64> {
    backlog
        .oldest_landed_at
        .map(|oldest| (now - oldest).num_seconds().max(0))
}

/// `tributary status`.
pub async fn status(
    connection: &Connection,
    output: &Output,
    args: StatusArgs,
) -> Result<ExitCode> {
    let session = connection.session().await?;
    let registry = session.registry();
    let tables = match &args.table {
        Some(table_id) => vec![registered(&session, table_id).await?],
        None => registry
            .all_tables()
            .await
            .context("cannot list the registered tables")?,
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
    output.emit(&report, |report| {
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
            let last = s.last_refresh.as_ref();
            text.row(vec![
                s.table.clone(),
                yes_no(s.active),
                s.cadence.clone(),
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
            ]);
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
    });
    let unhealthy = report.tables.iter().any(|s| s.health.needs_attention())
        || report.unrouted.needs_attention();
    Ok(if args.check && unhealthy {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn registered(session: &Session, table_id: &str) -> Result<RegisteredTable> {
    use tributary_shared::ports::table_registry::TableRegistry;
    session
        .registry()
        .table(table_id)
        .await
        .with_context(|| format!("cannot read the registration of {table_id}"))?
        .with_context(|| {
            format!("no table {table_id} is registered: see `tributary status` for the list")
        })
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
    let last_refresh = latest.first().map(last_refresh);
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

fn last_refresh(record: &RefreshRecord) -> LastRefresh {
    LastRefresh {
        outcome: record.outcome,
        finished_at: record.finished_at,
        totals: record.totals,
        error: record.error.clone(),
    }
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_owned()
}

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

/// Arguments of `tributary retry`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["file", "table", "unrouted"])))]
pub struct RetryArgs {
    /// A quarantined, unregistered or unrecognized object: its key or tracker id (repeatable).
    /// Without `--table`, every registered table is searched.
    #[arg(long)]
    file: Vec<String>,
    /// The table: with `--file`, where the files are; alone, retry all its quarantined files
    /// and re-examine its unregistered ones.
    #[arg(long, value_parser = crate::table_arg::table_id)]
    table: Option<String>,
    /// Re-examine every unregistered and unrecognized object (after a configuration change).
    #[arg(long)]
    unrouted: bool,
}

/// A file put back into its backlog, or an object sent for re-examination.
#[derive(Debug, Serialize)]
struct Requeued {
    table: Option<String>,
    key: String,
    /// `requeued` (a quarantined file) or `reexamined` (an unregistered or unrecognized one).
    action: &'static str,
    last_error: Option<String>,
}

/// `tributary retry`.
pub async fn retry(connection: &Connection, output: &Output, args: RetryArgs) -> Result<ExitCode> {
    let session = connection.session().await?;
    let quarantined = quarantined_to_retry(&session, &args).await?;
    let unrouted: Vec<UnroutedRecord> = unrouted::list(&session)
        .await?
        .into_iter()
        .filter(|r| {
            args.unrouted
                || args.file.contains(&r.key)
                || (args.file.is_empty() && args.table.is_some() && r.table_id == args.table)
        })
        .collect();
    let unknown: Vec<&str> = args
        .file
        .iter()
        .filter(|w| {
            !quarantined.iter().any(|(_, f)| f.key == **w || f.id == **w)
                && !unrouted.iter().any(|r| r.key == **w)
        })
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        bail!(
            "not quarantined, unregistered or unrecognized (or not tracked) in {}: {}; list them \
             with `tributary files --table T --status quarantined` or `tributary files --status \
             unrecognized`",
            args.table.as_deref().unwrap_or("any registered table"),
            unknown.join(", ")
        );
    }
    let mut done = requeue(&session, quarantined).await?;
    unrouted::reexamine(&session, &unrouted).await?;
    done.extend(unrouted.into_iter().map(|r| Requeued {
        table: r.table_id,
        key: r.key,
        action: "reexamined",
        last_error: Some(r.reason),
    }));
    output.emit(&done, |done| {
        let mut text = String::new();
        for r in done {
            let table = r.table.as_deref().unwrap_or("no table");
            text.push_str(&format!("{} {} ({table})\n", r.action, r.key));
        }
        text.push_str(&format!(
            "{} file(s) back in their backlog (the next refresh applies them); {} object(s) sent \
             to the file-manager to be examined again under the current configuration\n",
            done.iter().filter(|r| r.action == "requeued").count(),
            done.iter().filter(|r| r.action == "reexamined").count()
        ));
        text
    });
    Ok(ExitCode::SUCCESS)
}

/// The quarantined files `args` names, with their table ids.
async fn quarantined_to_retry(
    session: &Session,
    args: &RetryArgs,
) -> Result<Vec<(String, BacklogFile)>> {
    if args.unrouted && args.file.is_empty() && args.table.is_none() {
        return Ok(Vec::new());
    }
    let tracker = session.file_tracker();
    let tables = match &args.table {
        Some(table_id) => vec![table_id.clone()],
        None => session
            .registry()
            .all_tables()
            .await
            .context("cannot list the registered tables")?
            .into_iter()
            .map(|t| t.table_id)
            .collect(),
    };
    let mut chosen = Vec::new();
    for table_id in &tables {
        let quarantined = tracker
            .tracked_files(table_id, Some(FileStatus::Quarantined))
            .await
            .with_context(|| format!("cannot list the quarantined files of {table_id}"))?;
        chosen.extend(
            quarantined
                .into_iter()
                .filter(|f| {
                    args.file.is_empty()
                        || args
                            .file
                            .iter()
                            .any(|w| *w == f.file.key || *w == f.file.id)
                })
                .map(|f| (table_id.clone(), f.file)),
        );
    }
    Ok(chosen)
}

/// Puts quarantined files back into their backlogs.
async fn requeue(session: &Session, files: Vec<(String, BacklogFile)>) -> Result<Vec<Requeued>> {
    let tracker = session.file_tracker();
    let mut requeued = Vec::new();
    for (table_id, file) in files {
        if tracker
            .requeue_quarantined(&table_id, &file.id)
            .await
            .with_context(|| format!("cannot re-queue {}", file.key))?
        {
            requeued.push(Requeued {
                table: Some(table_id),
                key: file.key,
                action: "requeued",
                last_error: file.last_error,
            });
        }
    }
    Ok(requeued)
}

/// Arguments of `tributary refresh`.
#[derive(clap::Args)]
pub struct RefreshArgs {
    /// The cadence to run.
    #[arg(long)]
    cadence: String,
    /// Only these tables (repeatable); idle ones are included.
    #[arg(long, value_parser = crate::table_arg::table_id)]
    table: Vec<String>,
    /// The state machine's ARN (default: the stack's state machine, found by name).
    #[arg(long, env = "TRIBUTARY_STATE_MACHINE_ARN")]
    state_machine_arn: Option<String>,
    /// Start the execution and return without following it.
    #[arg(long)]
    no_wait: bool,
    /// Seconds between progress polls.
    #[arg(long, default_value_t = 2)]
    poll_seconds: u64,
}

/// How `refresh` ended.
#[derive(Debug, Serialize)]
struct RefreshRun {
    execution_arn: String,
    status: String,
    batches_succeeded: usize,
    batches_failed: usize,
    output: Option<serde_json::Value>,
    error: Option<String>,
    cause: Option<String>,
}

/// `tributary refresh`.
pub async fn refresh(
    connection: &Connection,
    output: &Output,
    args: RefreshArgs,
) -> Result<ExitCode> {
    use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType};

    let session = connection.session().await?;
    let sfn = aws_sdk_sfn::Client::new(&session.sdk);
    let arn = match args.state_machine_arn {
        Some(arn) => arn,
        None => state_machine_arn(&sfn, &session.names.state_machine).await?,
    };
    let mut input = json!({"refresh_cadence": args.cadence});
    if !args.table.is_empty() {
        input["tables"] = json!(args.table);
    }
    let started = sfn
        .start_execution()
        .state_machine_arn(&arn)
        .input(input.to_string())
        .send()
        .await
        .with_context(|| format!("cannot start {arn}"))?;
    let execution = started.execution_arn().to_owned();
    output.note(format!("started {execution}"));
    if args.no_wait {
        output.emit(&json!({"execution_arn": execution}), |_| String::new());
        return Ok(ExitCode::SUCCESS);
    }
    let progress = indicatif::ProgressBar::new_spinner();
    progress.enable_steady_tick(Duration::from_millis(200));
    let run = loop {
        let described = sfn
            .describe_execution()
            .execution_arn(&execution)
            .send()
            .await
            .context("cannot follow the execution")?;
        let events: Vec<HistoryEventType> = sfn
            .get_execution_history()
            .execution_arn(&execution)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .context("cannot read the execution history")?
            .iter()
            .map(|event| event.r#type().clone())
            .collect();
        let count = |kind: &HistoryEventType| events.iter().filter(|e| *e == kind).count();
        let succeeded = count(&HistoryEventType::MapIterationSucceeded);
        let failed = count(&HistoryEventType::MapIterationFailed)
            + count(&HistoryEventType::MapIterationAborted);
        let status = described.status().clone();
        progress.set_message(format!(
            "{}: {succeeded} batch(es) done, {failed} failed",
            status.as_str()
        ));
        if status != ExecutionStatus::Running && status != ExecutionStatus::PendingRedrive {
            break RefreshRun {
                execution_arn: execution.clone(),
                status: status.as_str().to_owned(),
                batches_succeeded: succeeded,
                batches_failed: failed,
                output: described
                    .output()
                    .and_then(|text| serde_json::from_str(text).ok()),
                error: described.error().map(str::to_owned),
                cause: described.cause().map(str::to_owned),
            };
        }
        tokio::time::sleep(Duration::from_secs(args.poll_seconds)).await;
    };
    progress.finish_and_clear();
    let succeeded = run.status == ExecutionStatus::Succeeded.as_str();
    output.emit(&run, |run| {
        let mut text = format!(
            "{}: {} — {} batch(es) succeeded, {} failed\n",
            run.execution_arn, run.status, run.batches_succeeded, run.batches_failed
        );
        for detail in [&run.error, &run.cause].into_iter().flatten() {
            text.push_str(&format!("  {detail}\n"));
        }
        text
    });
    Ok(if succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn state_machine_arn(sfn: &aws_sdk_sfn::Client, name: &str) -> Result<String> {
    let machines: Vec<_> = sfn
        .list_state_machines()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .context("cannot list the state machines")?;
    machines
        .into_iter()
        .find(|m| m.name() == name)
        .map(|m| m.state_machine_arn().to_owned())
        .with_context(|| {
            format!(
                "no state machine named {name}: is the stack deployed with this --prefix and \
                 --region? (or pass --state-machine-arn)"
            )
        })
}

#[cfg(test)]
#[path = "operations_test.rs"]
mod tests;
