//! `tributary retry`: quarantined files back into their table's backlog after a fix, and
//! unregistered or unrecognized objects sent to the file-manager to be examined again.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use tributary_shared::ports::file_tracker::{BacklogFile, FileStatus, UnroutedRecord};

use super::registry::all_registered;
use super::unrouted;
use crate::connection::{Connection, Session};
use crate::output::Output;

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
        None => all_registered(session)
            .await?
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
