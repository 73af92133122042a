//! `merge-bench`: a smoke benchmark of the merge engine. Generates a partitioned `sales.orders`
//! table as DMS full-load CSV files on local disk, applies it (refresh 1), then applies one CDC
//! file of updates, partition moves, inserts and deletes (refresh 2), and reports wall times, the
//! refresh counters and the peak RSS, ending with a one-line JSON summary.

mod generate;
mod lake;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::Parser;
use tributary_shared::lake::refresh::RefreshOutcome;

use crate::generate::{CDC_FILE_NAME, CONFIG_JSON, Generator};
use crate::lake::{BenchLake, peak_rss_mib};

/// Rows per full-load file (DMS splits a large table into many `LOAD…` files).
const LOAD_FILE_ROWS: u64 = 100_000;
/// Seed of the data generator: the same arguments give the same table.
const SEED: u64 = 0x5EED_0F0D_E5ED;

/// Smoke benchmark of the merge engine: a full load, then one CDC file, on local disk.
#[derive(Parser)]
#[command(name = "merge-bench", version, about)]
struct Args {
    /// Rows of the full load.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// Changes in the CDC file (70% updates, 20% inserts, 10% deletes).
    #[arg(long, default_value_t = 50_000)]
    changes: u64,
    /// Empty or missing directory for the staging and lake stores (default: a temporary
    /// directory, removed at exit).
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<ExitCode> {
    let args = Args::parse();
    let started = Instant::now();
    let temp;
    let root = match &args.dir {
        Some(dir) => {
            let occupied = dir.exists()
                && std::fs::read_dir(dir)
                    .with_context(|| format!("reading {}", dir.display()))?
                    .next()
                    .is_some();
            if occupied {
                bail!(
                    "--dir {} is not empty; give an empty or new directory",
                    dir.display()
                );
            }
            dir.clone()
        }
        None => {
            temp = tempfile::tempdir().context("creating a temporary directory")?;
            temp.path().to_owned()
        }
    };
    let table = BenchLake::create(&root, CONFIG_JSON)?;
    let mut generator = Generator::new(SEED);
    println!(
        "merge-bench: {} rows, {} changes, stores under {}",
        args.rows,
        args.changes,
        root.display()
    );

    // Phase 1: generate and stage the full load, apply it.
    let phase = Instant::now();
    let mut load = Vec::new();
    let mut bytes = 0;
    for number in 1..=args.rows.div_ceil(LOAD_FILE_ROWS) {
        let rows = LOAD_FILE_ROWS.min(args.rows - (number - 1) * LOAD_FILE_ROWS);
        let (name, contents) = generator.load_file(number, rows)?;
        bytes += contents.len();
        load.push(table.stage(&name, contents).await?);
    }
    println!(
        "generate load: {} files, {:.1} MiB of CSV in {:.2} s{}",
        load.len(),
        mib(bytes),
        phase.elapsed().as_secs_f64(),
        rss_note()
    );
    let (outcome, load_time) = table
        .refresh(&load, "load", at("2024-06-01T00:10:00Z")?)
        .await?;
    report("refresh 1 (full load)", &outcome, load_time)?;
    let load_ok = check_rows(&outcome, generator.expected_rows());

    // Phase 2: generate and stage the CDC file, apply it.
    let phase = Instant::now();
    let (contents, stats) = generator.cdc_file(args.changes)?;
    let size = contents.len();
    let cdc = table.stage(CDC_FILE_NAME, contents).await?;
    println!(
        "generate cdc: {} changes ({} updates incl. {} partition moves, {} inserts, {} deletes \
         incl. {} key-only), {:.1} MiB in {:.2} s{}",
        args.changes,
        stats.updates,
        stats.partition_moves,
        stats.inserts,
        stats.deletes,
        stats.key_only_deletes,
        mib(size),
        phase.elapsed().as_secs_f64(),
        rss_note()
    );
    let (outcome, merge_time) = table
        .refresh(&[cdc], "cdc", at("2024-06-02T00:00:00Z")?)
        .await?;
    report("refresh 2 (cdc)", &outcome, merge_time)?;
    let merge_ok = check_rows(&outcome, generator.expected_rows());

    println!("total: {:.2} s", started.elapsed().as_secs_f64());
    // Written by hand to keep the keys in this order.
    let summary = format!(
        r#"{{"rows":{},"changes":{},"load_seconds":{},"merge_seconds":{},"peak_rss_mib":{}}}"#,
        args.rows,
        args.changes,
        serde_json::json!(round(load_time.as_secs_f64())),
        serde_json::json!(round(merge_time.as_secs_f64())),
        serde_json::json!(peak_rss_mib().map(round)),
    );
    println!("{summary}");
    Ok(if load_ok && merge_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Prints a refresh's wall time, counters and I/O.
fn report(label: &str, outcome: &RefreshOutcome, time: Duration) -> Result<()> {
    println!(
        "{label}: {:.2} s, table now {} rows in {} partitions{}",
        time.as_secs_f64(),
        outcome.snapshot.rows(),
        outcome.snapshot.partitions.len(),
        rss_note()
    );
    println!("  counts: {}", serde_json::to_string(&outcome.counts)?);
    println!("  io:     {}", serde_json::to_string(&outcome.io)?);
    Ok(())
}

/// Prints whether the table holds the rows the generator expects; false on a mismatch.
fn check_rows(outcome: &RefreshOutcome, expected: u64) -> bool {
    let actual = outcome.snapshot.rows();
    if actual == expected {
        println!("  rows: {actual} as expected");
        true
    } else {
        eprintln!("  rows: MISMATCH: the table holds {actual} rows, expected {expected}");
        false
    }
}

fn rss_note() -> String {
    peak_rss_mib()
        .map(|m| format!(" (peak RSS {m:.1} MiB)"))
        .unwrap_or_default()
}

fn at(rfc3339: &str) -> Result<DateTime<Utc>> {
    Ok(DateTime::parse_from_rfc3339(rfc3339)
        .with_context(|| format!("parsing {rfc3339}"))?
        .with_timezone(&Utc))
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn round(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}
