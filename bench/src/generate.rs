//! Deterministic generation of the benchmark table's DMS files: headerless full-load CSV files and
//! one CDC file, written as text straight into a `String`, with the generator's own bookkeeping of
//! which keys the table holds.

use std::fmt::Write as _;

use anyhow::{Result, bail};

/// The table configuration: `sales.orders` in current mode, keyed by `id`, ordered by the commit
/// timestamp `ts`, partitioned by the month of `created_at`.
pub const CONFIG_JSON: &str = r#"{
  "source": {"schema": "sales", "table": "orders"},
  "target": {"database": "lake", "table": "orders", "location": "lake/orders"},
  "primary_key": ["id"],
  "ordering": {"commit_timestamp_column": "ts"},
  "storage_mode": "current",
  "partition_by": ["month(created_at)"],
  "input": {"columns": [
    {"name": "id", "type": "bigint"},
    {"name": "customer", "type": "string"},
    {"name": "region", "type": "string"},
    {"name": "amount", "type": "decimal(12,2)"},
    {"name": "status", "type": "string"},
    {"name": "created_at", "type": "timestamp"},
    {"name": "ts", "type": "timestamp"}
  ]}
}"#;

/// Commit timestamp of every full-load row (DMS stamps load rows with the transfer time).
const LOAD_TS: &str = "2024-06-01 00:00:00";
/// Name of the CDC file; its changes are stamped from 01:00:00 that day on, 1 ms apart.
pub const CDC_FILE_NAME: &str = "20240601-010000000.csv";
/// Milliseconds from midnight of the first CDC change.
const CDC_START_MS: u64 = 3_600_000;
/// Most changes one CDC file can hold before its timestamps would leave the day.
pub const MAX_CHANGES: u64 = 24 * 3_600_000 - CDC_START_MS;

const REGIONS: [&str; 8] = [
    "eu-west",
    "eu-central",
    "us-east",
    "us-west",
    "ap-south",
    "ap-northeast",
    "sa-east",
    "af-south",
];
const STATUSES: [&str; 5] = ["new", "paid", "shipped", "delivered", "returned"];
/// Distinct customers.
const CUSTOMERS: u64 = 50_000;

/// A xorshift64* pseudo-random generator: fast, deterministic, good enough for test data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; zero is remapped).
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..bound` (`bound` > 0; the modulo bias is irrelevant here).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A `created_at` value in 2023, packed as month, day, hour, minute, second (0 = no row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CreatedAt(u32);

impl CreatedAt {
    const ABSENT: CreatedAt = CreatedAt(0);

    fn random(rng: &mut Rng) -> CreatedAt {
        let month = 1 + rng.below(12) as u32;
        Self::with_month(rng, month)
    }

    fn with_month(rng: &mut Rng, month: u32) -> CreatedAt {
        let day = 1 + rng.below(28) as u32;
        let second_of_day = rng.below(86_400) as u32;
        CreatedAt(month << 24 | day << 17 | second_of_day)
    }

    fn month(self) -> u32 {
        self.0 >> 24
    }

    fn write(self, out: &mut String) -> std::fmt::Result {
        let day = (self.0 >> 17) & 0x7F;
        let second_of_day = self.0 & 0x1_FFFF;
        write!(
            out,
            "2023-{:02}-{:02} {:02}:{:02}:{:02}",
            self.month(),
            day,
            second_of_day / 3600,
            second_of_day / 60 % 60,
            second_of_day % 60
        )
    }
}

/// What the generated CDC file contains.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChangeStats {
    /// `U` rows.
    pub updates: u64,
    /// `U` rows whose `created_at` moved to another month (another partition).
    pub partition_moves: u64,
    /// `I` rows of new keys.
    pub inserts: u64,
    /// `D` rows of keys the table held.
    pub deletes: u64,
    /// `D` rows carrying only the key (every other column but `ts` is `NULL`).
    pub key_only_deletes: u64,
}

/// The generator: its random state and which keys the table holds after the files so far.
#[derive(Debug)]
pub struct Generator {
    rng: Rng,
    /// `created_at` of key `index + 1`, or absent once deleted.
    rows: Vec<CreatedAt>,
    live: u64,
}

impl Generator {
    /// A generator with a fixed seed: the same arguments give the same files.
    pub fn new(seed: u64) -> Generator {
        Generator {
            rng: Rng::new(seed),
            rows: Vec::new(),
            live: 0,
        }
    }

    /// Rows the table must hold after every file generated so far is applied.
    pub fn expected_rows(&self) -> u64 {
        self.live
    }

    /// The full-load file number `number` (1-based) with the next `rows` keys: its DMS name
    /// (`LOAD<8 hex digits>.csv`) and contents.
    pub fn load_file(&mut self, number: u64, rows: u64) -> Result<(String, String)> {
        let mut out = String::with_capacity(rows as usize * 100);
        for _ in 0..rows {
            let id = self.new_key();
            self.write_row(&mut out, id, LOAD_TS)?;
            out.push('\n');
        }
        Ok((format!("LOAD{number:08X}.csv"), out))
    }

    /// The CDC file with `changes` changes after the load: 70% updates of random existing keys
    /// (one in ten moving to another month of `created_at`), 20% inserts of new keys and 10%
    /// deletes of existing keys (half of them key-only), 1 ms apart.
    pub fn cdc_file(&mut self, changes: u64) -> Result<(String, ChangeStats)> {
        if changes > MAX_CHANGES {
            bail!("at most {MAX_CHANGES} changes fit in one generated CDC file, not {changes}");
        }
        let mut out = String::with_capacity(changes as usize * 100);
        let mut stats = ChangeStats::default();
        let mut ts = String::with_capacity(32);
        for i in 0..changes {
            ts.clear();
            write_cdc_ts(&mut ts, CDC_START_MS + i)?;
            let roll = self.rng.below(100);
            if roll < 20 || self.live == 0 {
                let id = self.new_key();
                out.push_str("I,");
                self.write_row(&mut out, id, &ts)?;
                stats.inserts += 1;
            } else if roll < 90 {
                let id = self.live_key();
                if self.rng.percent(10) {
                    let index = (id - 1) as usize;
                    let old = self.rows[index].month();
                    let month = (old + self.rng.below(11) as u32) % 12 + 1;
                    self.rows[index] = CreatedAt::with_month(&mut self.rng, month);
                    stats.partition_moves += 1;
                }
                out.push_str("U,");
                self.write_row(&mut out, id, &ts)?;
                stats.updates += 1;
            } else {
                let id = self.live_key();
                if self.rng.percent(50) {
                    write!(out, "D,{id},NULL,NULL,NULL,NULL,NULL,{ts}")?;
                    stats.key_only_deletes += 1;
                } else {
                    out.push_str("D,");
                    self.write_row(&mut out, id, &ts)?;
                }
                self.rows[(id - 1) as usize] = CreatedAt::ABSENT;
                self.live -= 1;
                stats.deletes += 1;
            }
            out.push('\n');
        }
        Ok((out, stats))
    }

    /// Adds the next key with a random `created_at`.
    fn new_key(&mut self) -> u64 {
        self.rows.push(CreatedAt::random(&mut self.rng));
        self.live += 1;
        self.rows.len() as u64
    }

    /// A random key the table holds (the caller makes sure there is one).
    fn live_key(&mut self) -> u64 {
        loop {
            let index = self.rng.below(self.rows.len() as u64);
            if self.rows[index as usize] != CreatedAt::ABSENT {
                return index + 1;
            }
        }
    }

    /// Writes `id,customer,region,amount,status,created_at,ts` (random values, the key's
    /// bookkept `created_at`) without the line end.
    fn write_row(&mut self, out: &mut String, id: u64, ts: &str) -> std::fmt::Result {
        let customer = self.rng.below(CUSTOMERS);
        let region = REGIONS[self.rng.below(REGIONS.len() as u64) as usize];
        let cents = self.rng.below(100_000_000);
        let status = STATUSES[self.rng.below(STATUSES.len() as u64) as usize];
        write!(
            out,
            "{id},cust-{customer:05},{region},{}.{:02},{status},",
            cents / 100,
            cents % 100
        )?;
        self.rows[(id - 1) as usize].write(out)?;
        write!(out, ",{ts}")
    }
}

/// Writes the commit timestamp `ms` milliseconds after 2024-06-01 00:00:00 (within that day).
fn write_cdc_ts(out: &mut String, ms: u64) -> std::fmt::Result {
    let seconds = ms / 1000;
    write!(
        out,
        "2024-06-01 {:02}:{:02}:{:02}.{:03}000",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        ms % 1000
    )
}
