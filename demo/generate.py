#!/usr/bin/env python3
"""Generates the `make demo` dataset: AWS DMS files of a small source database, in rounds, and
the source of truth that Tributary's lake must equal once every round is applied.

    generate.py OUT_DIR [--seed N] [--scale F]

Writes into OUT_DIR (replacing `rounds/`, `expected/` and `tributary.yaml` if present):

    rounds/00-full-load/dms/<schema>/<table>/LOAD00000001.csv|.parquet ...
    rounds/01-cdc/dms/<schema>/<table>/<yyyyMMdd-HHmmssSSS>.csv|.parquet ...
    rounds/01-cdc/dms/billing/payments/<yyyy>/<MM>/<dd>/<yyyyMMdd-HHmmssSSS>.parquet ...
    rounds/02-cdc/..., rounds/03-cdc/...
    expected/<schema>.<table>.parquet   final rows of each source table (source columns only)
    expected/summary.json               per table: expected rows, load and CDC row counts,
                                        scenarios, the malformed file and why it is malformed
    tributary.yaml                      the manifest configuring the tables for Tributary

Each round directory is uploaded as-is to the staging bucket (keys relative to the round
directory, so they start with `dms/`), in directory-name order, and processed before the next.

The files follow what DMS writes (GUIDE.md §1) and what Tributary's readers accept
(shared/src/lake/dms_reader.rs): full-load files without an Op column, named by a hex counter;
CDC files named by time, with the Op column (`I`/`U`/`D`) first; CSV quoted only where needed
(RFC 4180), `NULL` for null, timestamps `yyyy-mm-dd hh:mm:ss`; Parquet with `Op` as a string,
timestamps as INT64 microseconds and decimals as DECIMAL. `billing.payments` is exactly what a
DMS Parquet task with `TimestampColumnName` and `DatePartitionEnabled` writes: `ts` a string
`yyyy-MM-dd HH:mm:ss.SSSSSS` in full load and CDC, CDC files in date folders `yyyy/MM/dd` of
their name's date.

How it works: each table's source database is modelled by a DuckDB table (`model_*`). The full
load inserts rows; each CDC file picks keys, gives each a short script of changes (dataset.py),
applies the changes to the model step by step and writes them, in commit order, as one DMS file.
The expected result is the model's live rows at the end: it never looks at Tributary. Commit
timestamps (`ts`) strictly increase per table over the whole dataset, in whole seconds (CSV
tables) or whole milliseconds (`sales.orders`), so the order of changes is unambiguous — except
in `billing.payments`, ordered like real DMS output: changes of one source transaction share
its commit timestamp (microseconds), and a file may continue the transaction the previous file
ended with, changing the same key at the same timestamp. Its history is the total order of
docs/DESIGN.md §6: commit timestamp, then file order, then row.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
import textwrap
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import duckdb

from dataset import COMMIT_TS, SCRIPT_WEIGHTS, TABLES, Column, Table, sql_string

#: Round directories, processed in this (name) order.
ROUNDS = ("00-full-load", "01-cdc", "02-cdc", "03-cdc")
#: Prefix of every staged key (the DMS endpoint's BucketFolder).
BUCKET_FOLDER = "dms"
#: When DMS ran the full load; full-load rows carry this transfer time (+1 s per file) as `ts`.
LOAD_TIME = datetime(2024, 6, 3, 8, 0, 0)
#: First commit of CDC round 1; round r starts ROUND_SPACING after round r-1 (or right after the
#: table's previous commit, whichever is later).
CDC_START = datetime(2024, 6, 3, 9, 0, 0)
ROUND_SPACING = timedelta(hours=6)
#: A CDC file is named this long after its last commit ...
FILE_NAME_DELAY_MS = 500
#: ... and the table's next commit comes at least this long after the file's name.
FILE_GAP_MS = 1_000
#: The malformed file is named this long after the file before it.
MALFORMED_DELAY_MS = 300
#: Keys among the newest 5% are this many times likelier to be changed (recent rows are hot).
HOT_KEY_SHARE = 0.05
HOT_KEY_BOOST = 10.0
#: Steps of the longest script.
MAX_SCRIPT_STEPS = max(len(script) for scripts in SCRIPT_WEIGHTS.values() for script in scripts)

CSV_OPTIONS = (
    "FORMAT csv, DELIMITER ',', QUOTE '\"', ESCAPE '\"', NULLSTR 'NULL', "
    "DATEFORMAT '%Y-%m-%d', TIMESTAMPFORMAT '%Y-%m-%d %H:%M:%S'"
)
PARQUET_OPTIONS = "FORMAT parquet, COMPRESSION snappy"

#: How DMS writes a string commit timestamp (strftime; `%f` is six fractional digits).
DMS_COMMIT_TS_FORMAT = "%Y-%m-%d %H:%M:%S.%f"

MANIFEST_CADENCE = "demo"
MANIFEST_DATABASE = "tributary_lake"


def epoch_us(moment: datetime) -> int:
    """Microseconds since 1970-01-01 of a naive UTC datetime."""
    return (moment - datetime(1970, 1, 1)) // timedelta(microseconds=1)


def cdc_file_stem(ms: int) -> str:
    """The DMS CDC file name (without extension) of a moment: `yyyyMMdd-HHmmssSSS`."""
    moment = datetime(1970, 1, 1) + timedelta(milliseconds=ms)
    return moment.strftime("%Y%m%d-%H%M%S") + f"{ms % 1000:03d}"


def cdc_date_folder(ms: int) -> Path:
    """The DMS date folders (`DatePartitionEnabled`, sequence YYYYMMDD, delimiter SLASH) of a
    CDC file named at a moment: `yyyy/MM/dd`."""
    moment = datetime(1970, 1, 1) + timedelta(milliseconds=ms)
    return Path(moment.strftime("%Y"), moment.strftime("%m"), moment.strftime("%d"))


def quoted(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def op_counts_text(counts: dict[str, int]) -> str:
    """`I 10, U 20, D 3`."""
    return ", ".join(f"{op} {counts.get(op, 0)}" for op in ("I", "U", "D"))


class TiedChange(NamedTuple):
    """The change that opens a CDC file with the previous file's last commit timestamp."""

    #: Key number: the key the previous file changed last.
    n: int
    #: `live` or `reinsert` (SCRIPT_WEIGHTS kinds).
    kind: str
    #: A one-step script.
    script: str


class TableGenerator:
    """Models one source table in DuckDB and writes its DMS files round by round.

    `model_<t>` holds one row per key number `n` ever used: `live` (the row exists now),
    `deleted_in` (the CDC file that last deleted it) and the source columns (the current image).
    `events_<t>` holds every CDC change written, with the script that produced it.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, table: Table, out_dir: Path, seed: int,
                 scale: float):
        self.con = con
        self.table = table
        self.out_dir = out_dir
        self.seed = seed
        self.model = f"model_{table.schema}_{table.name}"
        self.events = f"events_{table.schema}_{table.name}"
        self.load_rows = max(10 * table.load_files, round(table.load_rows * scale))
        self.keys_per_file = table.keys_per_cdc_file * scale
        self.extension = "parquet" if table.file_format == "parquet" else "csv"
        #: The next key number never used.
        self.next_n = self.load_rows + 1
        #: CDC files written so far (their number is the file's `file_no`).
        self.cdc_files = 0
        #: The table's first commit of CDC round 1.
        self.cdc_start = table.cdc_start or CDC_START
        #: Epoch µs of the table's next commit.
        self.clock_us = epoch_us(self.cdc_start)
        #: Epoch ms in the name of the table's latest CDC file.
        self.last_file_ms = 0
        #: Key numbers whose change opens a file with the previous file's last commit timestamp
        #: (`commit_ties_across_files`); no later file picks them, so the tie decides their row.
        self.tied_keys: list[int] = []
        self.load_keys: list[str] = []
        self.cdc_keys: list[str] = []
        self.malformed_files: list[dict[str, str]] = []
        columns = ", ".join(f"{quoted(c.name)} {c.sql_type}" for c in table.columns)
        con.execute(
            f"CREATE TABLE {self.model} (n BIGINT, live BOOLEAN, deleted_in INTEGER, {columns})"
        )
        con.execute(
            f"CREATE TABLE {self.events} (file_no INTEGER, seq BIGINT, n BIGINT, step INTEGER, "
            f"kind VARCHAR, script VARCHAR, op VARCHAR, {columns})"
        )

    # -- paths and writing ---------------------------------------------------------------------

    def table_dir(self, round_no: int) -> Path:
        """`rounds/<round>/dms/<schema>/<table>` (created)."""
        round_dir = self.out_dir / "rounds" / ROUNDS[round_no]
        path = round_dir / BUCKET_FOLDER / self.table.schema / self.table.name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def staged_key(self, path: Path) -> str:
        """The staging-bucket key of a file: its path relative to its round directory."""
        return "/".join(path.relative_to(self.out_dir / "rounds").parts[1:])

    def copy_to_file(self, select_sql: str, path: Path) -> None:
        """Writes a query's rows as one DMS file in the table's format."""
        if self.table.file_format == "parquet":
            options = PARQUET_OPTIONS
        else:
            # DMS writes a header row only with AddColumnName (csv_header in the manifest).
            options = f"{CSV_OPTIONS}, HEADER {str(self.table.csv_header).lower()}"
        self.con.execute(f"COPY ({select_sql}) TO {sql_string(str(path))} ({options})")

    def file_columns_sql(self, round_no: int) -> str:
        """The source columns files of a round carry, in file order."""
        return ", ".join(quoted(c.name) for c in self.table.columns_in_round(round_no))

    # -- value expressions ---------------------------------------------------------------------

    def value_sql(self, column: Column, round_no: int, expression: str | None) -> str:
        """A column's value in a round: the change's commit time for `ts` (as DMS writes it in
        Parquet, `yyyy-MM-dd HH:mm:ss.SSSSSS`, when the column is a string), NULL before the
        column exists, else `expression` cast to the column's type."""
        if column.name == COMMIT_TS and column.sql_type == "VARCHAR":
            return f"strftime(ets, {sql_string(DMS_COMMIT_TS_FORMAT)})"
        if column.name == COMMIT_TS:
            return "ets"
        if column.since_round > round_no:
            return f"CAST(NULL AS {column.sql_type})"
        if expression is None:
            raise ValueError(f"{self.table.table_id}: no value expression for {column.name}")
        return f"CAST({expression} AS {column.sql_type})"

    def change_image_sql(self, column: Column, round_no: int) -> str:
        """A column of a CDC row, by script op: a fresh row for `I`, the updated row for `U`/`M`,
        the before-image (only the key, for key-only deletes) for `D`."""
        if column.name == COMMIT_TS or column.since_round > round_no:
            return self.value_sql(column, round_no, None)
        current = f"m.{quoted(column.name)}"
        fresh = self.table.fresh(False)[column.name]
        update = self.table.update(False).get(column.name, current)
        move = self.table.update(True).get(column.name, current)
        kept = not self.table.key_only_deletes or column.name in self.table.primary_key
        before_image = current if kept else "NULL"
        by_op = (
            f"CASE p.op WHEN 'I' THEN {fresh} WHEN 'U' THEN {update} WHEN 'M' THEN {move} "
            f"ELSE {before_image} END"
        )
        return self.value_sql(column, round_no, by_op)

    # -- full load -----------------------------------------------------------------------------

    def write_full_load(self) -> None:
        """Inserts the initial rows into the model and writes them as `LOAD…` files (by key, as
        DMS unloads a table), without an Op column."""
        table, rows, files = self.table, self.load_rows, self.table.load_files
        fresh = table.fresh(True)
        values = ", ".join(self.value_sql(c, 0, fresh.get(c.name)) for c in table.columns)
        # Each LOAD file one second after the previous; rows `load_row_us` apart, if set.
        row_offset = f" + (range - 1) * {table.load_row_us}" if table.load_row_us else ""
        transfer_time = (
            f"make_timestamp({epoch_us(LOAD_TIME)} + ((range - 1) * {files} // {rows}) * 1000000"
            f"{row_offset})"
        )
        self.con.execute(
            f"INSERT INTO {self.model} SELECT n, true, NULL, {values} FROM ("
            f"SELECT range AS n, 0 AS salt, {rows} AS load_rows, {transfer_time} AS ets "
            f"FROM range(1, {rows + 1}))"
        )
        for index in range(files):
            low, high = index * rows // files + 1, (index + 1) * rows // files
            path = self.table_dir(0) / f"LOAD{index + 1:08X}.{self.extension}"
            self.copy_to_file(
                f"SELECT {self.file_columns_sql(0)} FROM {self.model} "
                f"WHERE n BETWEEN {low} AND {high} ORDER BY n",
                path,
            )
            self.load_keys.append(self.staged_key(path))
        print(f"generating {table.table_id} full load: {files} files, {rows} rows", flush=True)

    # -- CDC -----------------------------------------------------------------------------------

    def write_cdc_round(self, round_no: int) -> None:
        """Writes the round's CDC files (and the malformed file, if the table gets one here:
        right after the round's first file, so later files of the table follow it)."""
        round_start = epoch_us(self.cdc_start + (round_no - 1) * ROUND_SPACING)
        self.clock_us = max(self.clock_us, round_start)
        gets_malformed = self.table.malformed_in_round == round_no
        counts: dict[str, int] = {}
        for index in range(self.table.cdc_files_per_round):
            tie = self.table.commit_ties_across_files and index > 0
            for op, count in self.write_cdc_file(round_no, tie).items():
                counts[op] = counts.get(op, 0) + count
            if gets_malformed and index == 0:
                self.write_malformed_file(round_no)
        files = self.table.cdc_files_per_round + int(gets_malformed)
        note = " (one of them malformed)" if gets_malformed else ""
        print(
            f"generating {self.table.table_id} {ROUNDS[round_no]}: {files} files{note}, "
            f"{sum(counts.values())} changes ({op_counts_text(counts)})",
            flush=True,
        )

    def script_counts(self, file_no: int) -> dict[str, dict[str, int]]:
        """How many keys of a file get each script: its weight times the file's keys (60-140% of
        the table's keys per file), and at least one, so every scenario occurs in every file
        whatever the scale."""
        size = random.Random(f"{self.seed}:{self.table.table_id}:{file_no}").uniform(0.6, 1.4)
        keys = self.keys_per_file * size
        return {
            kind: {script: max(1, round(weight * keys)) for script, weight in scripts.items()}
            for kind, scripts in SCRIPT_WEIGHTS.items()
        }

    def assign_scripts(self, file_no: int, tied: TiedChange | None) -> None:
        """Picks the file's keys and their scripts into the temp table `assign(n, kind, script)`:
        live keys at random (recent keys favoured), re-inserted keys among those deleted by
        earlier files, and new keys continuing the key numbers; plus the `tied` change that
        continues the previous file's last transaction, if any. Tied keys (this file's and
        earlier ones) are never picked at random."""
        counts = self.script_counts(file_no)
        totals = {kind: sum(scripts.values()) for kind, scripts in counts.items()}

        def script_by_rank(kind: str) -> str:
            cases, upper = [], 0
            for script, count in counts[kind].items():
                upper += count
                cases.append(f"WHEN r <= {upper} THEN '{script}'")
            return f"CASE {' '.join(cases)} END"

        tied_keys = ", ".join(str(n) for n in self.tied_keys)
        untied = f" AND n NOT IN ({tied_keys})" if tied_keys else ""

        def drawn(condition: str, tag: str, limit: int, weight: str = "1.0") -> str:
            return (
                f"SELECT n, row_number() OVER (ORDER BY w, n) AS r FROM ("
                f"SELECT n, u(n, '{tag}', {file_no}) * {weight} AS w FROM {self.model} "
                f"WHERE {condition}{untied} ORDER BY w, n LIMIT {limit})"
            )

        max_n = self.next_n - 1
        hot_from = max_n - max(1, round(HOT_KEY_SHARE * max_n))
        hot_weight = f"(CASE WHEN n > {hot_from} THEN {1 / HOT_KEY_BOOST} ELSE 1.0 END)"
        live = drawn("live", "pick", totals["live"], hot_weight)
        deleted = drawn("NOT live AND deleted_in IS NOT NULL", "revive", totals["reinsert"])
        first_new, end_new = self.next_n, self.next_n + totals["new"]
        new = f"SELECT range AS n, range - {first_new - 1} AS r FROM range({first_new}, {end_new})"
        tied_sql = f" UNION ALL SELECT {tied.n}, '{tied.kind}', '{tied.script}'" if tied else ""
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE assign AS "
            f"SELECT n, 'live' AS kind, {script_by_rank('live')} AS script FROM ({live}) "
            f"UNION ALL SELECT n, 'reinsert', {script_by_rank('reinsert')} FROM ({deleted}) "
            f"UNION ALL SELECT n, 'new', {script_by_rank('new')} FROM ({new}){tied_sql}"
        )
        self.next_n = end_new
        # New keys get a model row that does not exist yet, so every step can join the model.
        self.con.execute(
            f"INSERT INTO {self.model} (n, live) SELECT n, false FROM assign WHERE kind = 'new'"
        )

    def plan_changes(self, file_no: int, tied_n: int | None) -> None:
        """Expands scripts into the file's changes, in the temp table `plan`, each with its
        position `seq` in the file and its commit time `ets`.

        A key's steps keep their order (sort value = random start + step × 0.02), while the
        changes of different keys interleave; the `tied_n` key's (single) change comes first.
        Consecutive changes are grouped into transactions of `changes_per_commit` changes on
        average; a transaction's changes share its commit time, one tick after the previous."""
        start = f"u(a.n, 'order', {file_no}) + s.step * 0.02"
        if tied_n is not None:
            start = f"CASE WHEN a.n = {tied_n} THEN -1 ELSE {start} END"
        order = f"{start}, a.n, s.step"
        commit_no = "seq"
        if self.table.changes_per_commit != 1:
            opens = f"seq = 1 OR u(seq, 'commit', {file_no}) < {1 / self.table.changes_per_commit}"
            commit_no = f"CAST(count(*) FILTER ({opens}) OVER (ORDER BY seq) AS BIGINT)"
        commit_time = f"make_timestamp({self.clock_us} + ({commit_no} - 1) * {self.table.tick_us})"
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE plan AS "
            f"SELECT *, {commit_time} AS ets FROM ("
            "SELECT a.n, a.kind, a.script, s.step, substr(a.script, s.step + 1, 1) AS op, "
            f"{file_no} * 10 + s.step AS salt, row_number() OVER (ORDER BY {order}) AS seq "
            f"FROM assign a, range(0, {MAX_SCRIPT_STEPS}) s(step) "
            "WHERE s.step < length(a.script))"
        )

    def tied_change(self, previous_file_no: int) -> TiedChange:
        """The change that opens a file with the previous file's last commit: the key that file changed last, deleted (every other file) or moved to another
        partition when it is live, re-inserted when that file deleted it. Either way the two
        files disagree on the key's row and only the later file's change is right; no later
        file changes the key, so the lake shows which change won."""
        (n,) = self.con.execute(
            f"SELECT n FROM {self.events} WHERE file_no = {previous_file_no} "
            "ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        (live,) = self.con.execute(f"SELECT live FROM {self.model} WHERE n = {n}").fetchone()
        if not live:
            return TiedChange(n, "reinsert", "I")
        return TiedChange(n, "live", "D" if previous_file_no % 2 else "M")

    def apply_step(self, file_no: int, round_no: int, step: int) -> None:
        """Turns the plan's `step`-th change of every key into a row of `events` and applies it
        to the model. Refuses a change the source database could not have made."""
        (invalid,) = self.con.execute(
            f"SELECT count(*) FROM plan p JOIN {self.model} m USING (n) "
            f"WHERE p.step = {step} AND (p.op = 'I') = m.live"
        ).fetchone()
        if invalid:
            raise AssertionError(
                f"{self.table.table_id}: {invalid} scripted changes do not fit the model (a bug)"
            )
        names = ", ".join(quoted(c.name) for c in self.table.columns)
        images = ", ".join(self.change_image_sql(c, round_no) for c in self.table.columns)
        self.con.execute(
            f"INSERT INTO {self.events} (file_no, seq, n, step, kind, script, op, {names}) "
            f"SELECT {file_no}, p.seq, p.n, p.step, p.kind, p.script, p.op, {images} "
            f"FROM plan p JOIN {self.model} m USING (n) WHERE p.step = {step}"
        )
        # A delete keeps the old image in the model (only `live` changes).
        model = self.model
        assignments = ", ".join(
            f"{quoted(c.name)} = CASE WHEN e.op = 'D' THEN {model}.{quoted(c.name)} "
            f"ELSE e.{quoted(c.name)} END"
            for c in self.table.columns
        )
        self.con.execute(
            f"UPDATE {model} SET live = e.op <> 'D', "
            f"deleted_in = CASE WHEN e.op = 'D' THEN {file_no} ELSE {model}.deleted_in END, "
            f"{assignments} FROM {self.events} e "
            f"WHERE e.file_no = {file_no} AND e.step = {step} AND e.n = {model}.n"
        )

    def write_cdc_file(self, round_no: int, tie: bool) -> dict[str, int]:
        """Scripts, applies and writes one CDC file; returns its row counts by op. With `tie`,
        the file opens with the previous file's last commit timestamp, on the key that file
        changed last."""
        self.cdc_files += 1
        file_no = self.cdc_files
        tied = self.tied_change(file_no - 1) if tie else None
        if tied:
            self.tied_keys.append(tied.n)
        self.assign_scripts(file_no, tied)
        self.plan_changes(file_no, tied.n if tied else None)
        for step in range(MAX_SCRIPT_STEPS):
            self.apply_step(file_no, round_no, step)

        (last_commit_us,) = self.con.execute("SELECT epoch_us(max(ets)) FROM plan").fetchone()
        self.last_file_ms = last_commit_us // 1000 + FILE_NAME_DELAY_MS
        if self.table.commit_ties_across_files:
            # The next file of the round continues this file's last transaction.
            self.clock_us = last_commit_us
        else:
            self.clock_us = (self.last_file_ms + FILE_GAP_MS) * 1000
            # Keep commit times on whole ticks (whole seconds for the CSV tables).
            self.clock_us += -self.clock_us % self.table.tick_us

        file_op = "CASE op WHEN 'M' THEN 'U' ELSE op END"
        folder = self.table_dir(round_no)
        if self.table.cdc_date_folders:
            folder /= cdc_date_folder(self.last_file_ms)
            folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{cdc_file_stem(self.last_file_ms)}.{self.extension}"
        self.copy_to_file(
            f'SELECT {file_op} AS "Op", {self.file_columns_sql(round_no)} '
            f"FROM {self.events} WHERE file_no = {file_no} ORDER BY seq",
            path,
        )
        self.cdc_keys.append(self.staged_key(path))
        counts = self.con.execute(
            f"SELECT {file_op}, count(*) FROM {self.events} WHERE file_no = {file_no} GROUP BY 1"
        ).fetchall()
        return dict(counts)

    def write_malformed_file(self, round_no: int) -> None:
        """Writes a CDC file Tributary must reject: a valid header, then rows of 2 fields where
        the header has one per column plus Op. The rows are garbage (they name no key), so the
        file carries no change at all and the source of truth ignores it."""
        if self.table.file_format != "csv":
            raise ValueError("only CSV tables get a malformed file")
        header = ["Op"] + [c.name for c in self.table.columns_in_round(round_no)]
        lines = [",".join(header)] if self.table.csv_header else []
        lines += [f"I,garbage row {i} of 5: not a DMS change" for i in range(1, 6)]
        name = f"{cdc_file_stem(self.last_file_ms + MALFORMED_DELAY_MS)}.csv"
        path = self.table_dir(round_no) / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        reason = (
            f"its data rows have 2 fields where {len(header)} are expected (Op + "
            f"{len(header) - 1} columns): Tributary fails the file with a column-count error at "
            "row 1 and quarantines it after repeated failures; on_bad_file: "
            f"{self.table.on_bad_file} then applies the later {self.table.table_id} files. The "
            "rows are garbage by construction and change nothing in the source of truth."
        )
        self.malformed_files.append(
            {"key": self.staged_key(path), "round": ROUNDS[round_no], "reason": reason}
        )

    # -- results -------------------------------------------------------------------------------

    def write_expected(self) -> int:
        """Writes the model's live rows (every source column) to
        `expected/<schema>.<table>.parquet`; returns their number."""
        path = self.out_dir / "expected" / f"{self.table.table_id}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        order = ", ".join(quoted(k) for k in self.table.primary_key)
        self.con.execute(
            f"COPY (SELECT {self.file_columns_sql(len(ROUNDS))} FROM {self.model} "
            f"WHERE live ORDER BY {order}) TO {sql_string(str(path))} ({PARQUET_OPTIONS})"
        )
        (rows,) = self.con.execute(f"SELECT count(*) FROM {self.model} WHERE live").fetchone()
        return rows

    def count(self, sql: str) -> int:
        (value,) = self.con.execute(sql).fetchone()
        return value

    def summary(self, rows_expected: int) -> dict:
        """What the table's files contain, for expected/summary.json."""
        table, events = self.table, self.events
        by_op = dict(
            self.con.execute(
                f"SELECT CASE op WHEN 'M' THEN 'U' ELSE op END, count(*) FROM {events} GROUP BY 1"
            ).fetchall()
        )
        moves = self.count(f"SELECT count(*) FROM {events} WHERE op = 'M'")
        scenarios = {
            "partition_moves": moves if table.partition_columns else 0,
            "reinserts_after_delete_in_same_file": self.count(
                f"SELECT count(*) FROM {events} WHERE op = 'I' AND step > 0"
            ),
            "reinserts_of_keys_deleted_in_earlier_files": self.count(
                f"SELECT count(*) FROM {events} WHERE op = 'I' AND kind = 'reinsert' AND step = 0"
            ),
            "keys_changed_several_times_in_one_file": self.count(
                f"SELECT count(*) FROM (SELECT file_no, n FROM {events} "
                "GROUP BY ALL HAVING count(*) > 1)"
            ),
            "keys_changed_in_several_files": self.count(
                f"SELECT count(*) FROM (SELECT n FROM {events} "
                "GROUP BY n HAVING count(DISTINCT file_no) > 1)"
            ),
            "key_only_deletes": by_op.get("D", 0) if table.key_only_deletes else 0,
            "commit_timestamp_ties_across_files": len(self.tied_keys),
        }
        return {
            "format": table.file_format,
            "csv_header": table.csv_header if table.file_format == "csv" else None,
            "primary_key": list(table.primary_key),
            "partition_by": list(table.partition_by),
            "cdc_date_folders": "YYYY/MM/DD" if table.cdc_date_folders else None,
            "columns": [{"name": c.name, "type": c.hive_type} for c in table.columns],
            "rows_expected": rows_expected,
            "load_rows": self.load_rows,
            "load_files": len(self.load_keys),
            "cdc_files": len(self.cdc_keys) + len(self.malformed_files),
            "cdc_rows": {op: by_op.get(op, 0) for op in ("I", "U", "D")},
            "scenarios": scenarios,
            "added_columns": [
                {"name": c.name, "type": c.hive_type, "first_round": ROUNDS[c.since_round]}
                for c in table.columns
                if c.since_round > 0
            ],
            "malformed_files": self.malformed_files,
        }


# ---------------------------------------------------------------------------------------------
# Manifest


def yaml_scalar(value) -> str:
    """A YAML scalar: plain when unambiguous, else JSON-quoted (valid YAML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    reserved = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_./-]*", value) and value.lower() not in reserved:
        return value
    return json.dumps(value, ensure_ascii=False)


def yaml_flow(value) -> str:
    """A YAML flow collection (`{a: 1}`, `[x, y]`) or scalar."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {yaml_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(yaml_flow(v) for v in value) + "]"
    return yaml_scalar(value)


def manifest_entry(table: Table) -> dict:
    """The manifest entry of a table: `cadence` plus the TableSpec fields (table_config.rs)."""
    entry = {
        "cadence": MANIFEST_CADENCE,
        "source": {"schema": table.schema, "table": table.name},
        "target": {
            "database": MANIFEST_DATABASE,
            "table": f"{table.schema}_{table.name}",
            "location": f"{table.schema}/{table.name}",
        },
        "primary_key": list(table.primary_key),
        "ordering": {"commit_timestamp_column": COMMIT_TS},
        "storage_mode": "current",
        "partition_by": list(table.partition_by),
    }
    if table.file_format == "csv":
        # CSV files carry no types: every column, in file order (after Op), with its Hive type.
        entry["input"] = {
            "csv_header": table.csv_header,
            "columns": [{"name": c.name, "type": c.hive_type} for c in table.columns],
        }
    entry["on_bad_file"] = table.on_bad_file
    return entry


def manifest_note(table: Table) -> str:
    """The comment above a table's manifest entry."""
    if table.file_format == "parquet":
        added = ", ".join(f"`{c.name}` from {ROUNDS[c.since_round]}" for c in table.columns
                          if c.since_round > 0)
        note = (
            f"{table.table_id}: Parquet. No input.columns: the files carry their schema, and "
            f"columns added later ({added or 'none'}) join the lake table with the first file "
            "that has them."
        )
        (commit_ts,) = (c for c in table.columns if c.name == COMMIT_TS)
        if commit_ts.hive_type == "string":
            note += (
                f" `{COMMIT_TS}` is the string DMS writes (yyyy-MM-dd HH:mm:ss.SSSSSS) and alone "
                "orders changes; ties go to the later file."
            )
        if table.cdc_date_folders:
            note += " CDC files sit in DMS date folders (YYYY/MM/DD), recognised from the key."
        return note
    header = "with a header row" if table.csv_header else "without header"
    bad_file = ""
    if table.on_bad_file == "skip":
        bad_file = " A malformed CDC file is skipped once quarantined."
    return (
        f"{table.table_id}: CSV {header}. input.columns lists every column in file order (CDC "
        f"files put the Op column first).{bad_file}"
    )


def write_manifest(path: Path, seed: int, scale: float) -> None:
    """Writes tributary.yaml: one cadence and one entry per table."""
    lines = [
        f"# Tributary manifest of the demo dataset: demo/generate.py --seed {seed} --scale {scale}",
        "# Each table entry is a TableSpec (shared/src/lake/table_config.rs) plus its `cadence`.",
        "cadences:",
        f"  {MANIFEST_CADENCE}:",
        '    schedule: "rate(10 minutes)"',
        "    batch_size: 2",
        "    max_concurrency: 2",
        "tables:",
    ]
    for table in TABLES:
        lines += textwrap.wrap(manifest_note(table), width=98, initial_indent="  # ",
                               subsequent_indent="  # ")
        for index, (key, value) in enumerate(manifest_entry(table).items()):
            prefix = "  - " if index == 0 else "    "
            if key == "input":
                lines.append(f"{prefix}input:")
                lines.append(f"      csv_header: {yaml_scalar(value['csv_header'])}")
                lines.append("      columns:")
                lines += [f"        - {yaml_flow(column)}" for column in value["columns"]]
            else:
                lines.append(f"{prefix}{key}: {yaml_flow(value)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Driver


def create_macros(con: duckdb.DuckDBPyConnection, seed: int) -> None:
    """`u(key, tag, salt)`: a uniform number in [0, 1) fixed by its arguments and the seed;
    `pick(list, x)`: the list element at fraction x of its length."""
    prime = 1_000_000_007
    con.execute(
        f"CREATE MACRO u(k, tag, salt) AS (hash(k, tag, salt, {int(seed)}) % {prime}) / {prime}.0"
    )
    con.execute(
        "CREATE MACRO pick(options, x) AS "
        "list_extract(options, 1 + CAST(floor(x * len(options)) AS BIGINT))"
    )


def prepare_out_dir(out_dir: Path) -> None:
    """Creates OUT_DIR, removing the outputs of an earlier run (and nothing else)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("rounds", "expected"):
        shutil.rmtree(out_dir / name, ignore_errors=True)
    (out_dir / "tributary.yaml").unlink(missing_ok=True)


def generate(out_dir: Path, seed: int, scale: float) -> dict:
    """Generates the whole dataset into `out_dir`; returns the summary it wrote."""
    prepare_out_dir(out_dir)
    con = duckdb.connect()
    create_macros(con, seed)
    generators = [TableGenerator(con, table, out_dir, seed, scale) for table in TABLES]
    for generator in generators:
        generator.write_full_load()
    for round_no in range(1, len(ROUNDS)):
        for generator in generators:
            generator.write_cdc_round(round_no)
    tables = {}
    for generator in generators:
        rows = generator.write_expected()
        tables[generator.table.table_id] = generator.summary(rows)
        print(f"expected {generator.table.table_id}: {rows} rows", flush=True)
    summary = {
        "seed": seed,
        "scale": scale,
        "rounds": list(ROUNDS),
        "bucket_folder": BUCKET_FOLDER,
        "commit_timestamp_column": COMMIT_TS,
        "tables": tables,
    }
    text = json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
    (out_dir / "expected" / "summary.json").write_text(text, encoding="utf-8")
    write_manifest(out_dir / "tributary.yaml", seed, scale)
    return summary


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", type=Path,
                        help="where to write rounds/, expected/ and tributary.yaml")
    parser.add_argument("--seed", type=int, default=1,
                        help="random seed (default 1); the same seed and scale give the same data")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="size factor (default 1: 1,000,000 full-load rows)")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 100:
        parser.error("--scale must be in (0, 100]")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    summary = generate(args.out_dir, args.seed, args.scale)
    tables = summary["tables"].values()
    load = sum(t["load_rows"] for t in tables)
    cdc = sum(sum(t["cdc_rows"].values()) for t in tables)
    print(
        f"done: {len(tables)} tables, {load} full-load rows, {cdc} CDC rows "
        f"in {time.monotonic() - started:.1f} s -> {args.out_dir}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
