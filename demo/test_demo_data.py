"""Self-check of the demo dataset (generate.py) and of the lake verifier (verify.py).

    /work/main/.venv/bin/python -m unittest discover -s demo

Generates a small dataset (--scale 0.01) once, then checks it the way Tributary will see it: the
staged layout, the file encodings, the manifest, every scenario the demo promises, and that the
expected tables equal an independent replay of the files (CSV parsed here with Python's csv module
and the manifest's declared types, not with the DuckDB writer that produced them). verify.py runs
against fake lake exports built from the expected rows: a faithful one must pass, and each kind of
damage must fail, naming the table.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import duckdb

try:
    import yaml
except ImportError:  # PyYAML comes with moto in the project venv
    yaml = None

DEMO = Path(__file__).resolve().parent
TABLE_CONFIG_RS = DEMO.parent / "shared" / "src" / "lake" / "table_config.rs"
SCALE = "0.01"
SEED = "7"
FULL_LOAD_ROUND = "00-full-load"
LOAD_NAME = re.compile(r"LOAD([0-9A-F]{8})\.(csv|parquet)")
CDC_NAME = re.compile(r"(\d{8}-\d{9})\.(csv|parquet)")
CSV_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
#: How DMS writes its commit-timestamp column in Parquet: a string with six fractional digits.
DMS_COMMIT_TS = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}")
#: DMS date folders (`DatePartitionEnabled`, sequence YYYYMMDD, delimiter SLASH).
DATE_FOLDERS = re.compile(r"(\d{4})/(\d{2})/(\d{2})")
#: The table shaped exactly like a DMS Parquet task with a string commit timestamp and date
#: folders.
PAYMENTS = "billing.payments"
#: Characters Tributary Hive-escapes in partition values (besides control characters).
HIVE_ESCAPED = set("\"#%'*/:=?\\{[]^")
HIVE_DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"


def commit_time(value) -> datetime:
    """A commit timestamp as a datetime, whether the file typed it or wrote DMS's string."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(DEMO / name), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def generate(out_dir: Path, seed: str = SEED) -> None:
    done = run_script("generate.py", str(out_dir), "--seed", seed, "--scale", SCALE)
    if done.returncode != 0:
        raise AssertionError(f"generate.py failed:\n{done.stdout}\n{done.stderr}")


def struct_fields(rust_source: str, struct: str) -> set[str]:
    """The field names of a Rust struct (as serde reads them: these structs rename no field)."""
    body = re.search(rf"pub struct {struct} \{{(.*?)\n\}}", rust_source, re.S)
    assert body, f"struct {struct} not found in table_config.rs"
    return set(re.findall(r"^\s*pub (\w+):", body.group(1), re.M))


def hive_escape(value: str) -> str:
    """Tributary's Hive escaping of a partition value (shared/src/lake/partitioning.rs)."""
    def escaped(c: str) -> str:
        return f"%{ord(c):02X}" if c in HIVE_ESCAPED or ord(c) < 0x20 or ord(c) == 0x7F else c

    return "".join(escaped(c) for c in value)


def sql_literal(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


# ---------------------------------------------------------------------------------------------
# Reading DMS files independently of the generator


class MalformedFile(Exception):
    """A DMS file the table's declared layout cannot read."""


@dataclass
class Change:
    """One row of a DMS file: `L` (full load), `I`, `U` or `D`, and its values by column."""

    file: str
    round: str
    op: str
    values: dict
    #: Position of the file in the table's file order, and of the row in its file.
    file_index: int = 0
    row: int = 0


def typed(value: str | None, hive_type: str):
    """A CSV field as the declared Hive type (None for NULL); MalformedFile if it does not parse."""
    if value is None:
        return None
    try:
        if hive_type in ("bigint", "int", "smallint", "tinyint"):
            return int(value)
        if hive_type.startswith("decimal"):
            return Decimal(value)
        if hive_type == "date":
            return date.fromisoformat(value)
        if hive_type == "timestamp":
            return datetime.fromisoformat(value)
        if hive_type == "boolean":
            return {"true": True, "false": False}[value]
        return value
    except (ValueError, KeyError, InvalidOperation) as error:
        raise MalformedFile(f"{value!r} is not a {hive_type}: {error}") from None


def read_csv_file(path: Path, spec: dict, with_op: bool) -> list[tuple[str, dict]]:
    """(op, values) rows of a DMS CSV file read with the manifest entry's `input` (RFC 4180,
    NULL is null)."""
    declared = {c["name"]: c["type"] for c in spec["input"]["columns"]}
    with path.open(newline="", encoding="utf-8") as handle:
        records = list(csv.reader(handle))
    if spec["input"].get("csv_header"):
        header, records = records[0], records[1:]
    else:
        header = (["Op"] if with_op else []) + list(declared)
    rows = []
    for number, record in enumerate(records, start=1):
        if len(record) != len(header):
            raise MalformedFile(
                f"{path.name}: row {number} has {len(record)} fields, expected {len(header)}"
            )
        fields = {name: (None if text == "NULL" else text) for name, text in zip(header, record)}
        op = fields.pop("Op") if with_op else "L"
        values = {name: typed(fields.get(name), hive_type) for name, hive_type in declared.items()}
        rows.append((op, values))
    return rows


def read_parquet_file(path: Path, with_op: bool) -> list[tuple[str, dict]]:
    """(op, values) rows of a DMS Parquet file."""
    relation = duckdb.sql(f"SELECT * FROM read_parquet('{path}')")
    rows = []
    for record in relation.fetchall():
        values = dict(zip(relation.columns, record))
        op = values.pop("Op") if with_op else "L"
        rows.append((op, values))
    return rows


def parquet_schema(path: Path) -> dict[str, tuple]:
    """Column name → (physical type, converted type) of a Parquet file."""
    query = f"SELECT name, type, converted_type FROM parquet_schema('{path}')"
    rows = duckdb.sql(query).fetchall()
    return {name: (physical, converted) for name, physical, converted in rows}


# ---------------------------------------------------------------------------------------------
# Fake lake exports for verify.py


def partition_levels(partition_by: list[str]) -> list[tuple[str, str, str | None]]:
    """(folder key, SQL of the folder value, identity column or None) per partition level, in
    Tributary's nested style."""
    levels = []
    for spec in partition_by:
        transform, column = re.fullmatch(r"(\w+)\((\w+)\)", spec).groups()
        if transform == "identity":
            levels.append((column, f"CAST({column} AS VARCHAR)", column))
        elif transform in ("month", "day"):
            levels.append(("year", f"strftime({column}, '%Y')", None))
            levels.append(("month", f"strftime({column}, '%m')", None))
            if transform == "day":
                levels.append(("day", f"strftime({column}, '%d')", None))
        else:
            raise NotImplementedError(transform)
    return levels


def write_fake_export(expected_dir: Path, export_dir: Path, summary: dict,
                      edits: dict[str, str] | None = None, skip=()) -> None:
    """Lays the expected rows out as a Tributary lake export: one folder per table, Hive
    partition folders (identity columns only in folder names, null as
    __HIVE_DEFAULT_PARTITION__), a `cdc_order` meta column, and no later-added column in
    partitions where it is all null (like files written before the column existed).
    `edits[table]` is SQL run on the rows (table `t`) first; tables in `skip` get no folder."""
    con = duckdb.connect()
    for table_id, info in summary["tables"].items():
        if table_id in skip:
            continue
        expected = expected_dir / f"{table_id}.parquet"
        with_meta = f"SELECT *, 'synthetic' AS cdc_order FROM '{expected}'"
        con.execute(f"CREATE OR REPLACE TABLE t AS {with_meta}")
        if edits and table_id in edits:
            con.execute(edits[table_id])
        levels = partition_levels(info["partition_by"])
        identity = [column for _, _, column in levels if column]
        added = [c["name"] for c in info["added_columns"]]
        folder_values = ", ".join(sql for _, sql, _ in levels) or "1"
        partitions = con.execute(f"SELECT DISTINCT {folder_values} FROM t").fetchall()
        for index, values in enumerate(partitions):
            folder, condition = export_dir / table_id, "true"
            for (key, sql, _), value in zip(levels, values):
                folder /= f"{key}={hive_escape(value) if value else HIVE_DEFAULT_PARTITION}"
                condition += f" AND {sql} IS NOT DISTINCT FROM {sql_literal(value)}"
            all_null = [
                c for c in added
                if con.execute(f"SELECT count({c}) = 0 FROM t WHERE {condition}").fetchone()[0]
            ]
            dropped = ", ".join(identity + all_null)
            select = f"SELECT * EXCLUDE ({dropped})" if dropped else "SELECT *"
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"part-{index:05d}.parquet"
            con.execute(f"COPY ({select} FROM t WHERE {condition}) TO '{target}' (FORMAT parquet)")
    con.close()


# ---------------------------------------------------------------------------------------------


class DemoDatasetTest(unittest.TestCase):
    """Checks one generated dataset; the fixture is built once for the class."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="tributary-demo-test-"))
        cls.out = cls.tmp / "demo"
        generate(cls.out)
        cls.summary = json.loads((cls.out / "expected" / "summary.json").read_text("utf-8"))
        manifest = (cls.out / "tributary.yaml").read_text("utf-8")
        cls.manifest = yaml.safe_load(manifest) if yaml else None
        cls.changes_cache = {}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # -- helpers -------------------------------------------------------------------------------

    def info(self, table_id: str) -> dict:
        """The table's entry in summary.json."""
        return self.summary["tables"][table_id]

    def spec(self, table_id: str) -> dict:
        """The table's entry in tributary.yaml."""
        if self.manifest is None:
            self.skipTest("PyYAML is not installed")
        for entry in self.manifest["tables"]:
            if f"{entry['source']['schema']}.{entry['source']['table']}" == table_id:
                return entry
        self.fail(f"{table_id} is not in tributary.yaml")

    def round_dirs(self) -> list[Path]:
        return sorted(p for p in (self.out / "rounds").iterdir() if p.is_dir())

    def table_folder(self, round_dir: Path, table_id: str) -> Path:
        schema, table = table_id.split(".")
        return round_dir / "dms" / schema / table

    def table_files(self, table_id: str) -> list[tuple[str, Path]]:
        """(round, path) of a table's files in Tributary's order: rounds in name order, full-load
        files by counter before CDC files by time (their name, whatever date folder they sit
        in)."""
        files = []
        for round_dir in self.round_dirs():
            folder = self.table_folder(round_dir, table_id)
            if folder.is_dir():
                def order(path: Path) -> tuple:
                    return not path.name.startswith("LOAD"), path.name

                found = sorted((p for p in folder.rglob("*") if p.is_file()), key=order)
                files += [(round_dir.name, path) for path in found]
        return files

    def read_file(self, table_id: str, path: Path) -> list[tuple[str, dict]]:
        with_op = not path.name.startswith("LOAD")
        if path.suffix == ".parquet":
            return read_parquet_file(path, with_op)
        return read_csv_file(path, self.spec(table_id), with_op)

    def changes(self, table_id: str) -> list[Change]:
        """Every row of the table's readable files, in order (the malformed file is left out)."""
        if table_id not in self.changes_cache:
            rows = []
            for index, (round_name, path) in enumerate(self.table_files(table_id)):
                try:
                    content = self.read_file(table_id, path)
                except MalformedFile:
                    continue
                rows += [
                    Change(path.name, round_name, op, values, index, row)
                    for row, (op, values) in enumerate(content)
                ]
            self.changes_cache[table_id] = rows
        return self.changes_cache[table_id]

    def cdc_changes(self, table_id: str) -> list[Change]:
        return [c for c in self.changes(table_id) if c.op != "L"]

    def key_of(self, table_id: str, values: dict) -> tuple:
        return tuple(values[k] for k in self.info(table_id)["primary_key"])

    def history(self, table_id: str):
        """Yields (change, previous image of its key or None, key deleted before) in order."""
        images, deleted = {}, set()
        for change in self.changes(table_id):
            key = self.key_of(table_id, change.values)
            yield change, images.get(key), key in deleted
            if change.op == "D":
                images.pop(key, None)
                deleted.add(key)
            else:
                images[key] = change.values

    def expected_rows(self, table_id: str) -> dict[tuple, dict]:
        relation = duckdb.sql(f"SELECT * FROM '{self.out / 'expected' / (table_id + '.parquet')}'")
        rows = [dict(zip(relation.columns, r)) for r in relation.fetchall()]
        return {self.key_of(table_id, r): r for r in rows}

    def malformed_names(self) -> set[str]:
        listed = [m for info in self.summary["tables"].values() for m in info["malformed_files"]]
        return {m["key"].rsplit("/", 1)[-1] for m in listed}

    # -- layout --------------------------------------------------------------------------------

    def test_rounds_are_a_full_load_then_at_least_three_cdc_rounds(self):
        names = [p.name for p in self.round_dirs()]
        self.assertEqual(names[0], FULL_LOAD_ROUND)
        self.assertGreaterEqual(len(names), 4)
        self.assertTrue(all(re.fullmatch(r"\d\d-cdc", n) for n in names[1:]), names)
        self.assertEqual(self.summary["rounds"], names)

    def test_every_file_is_a_dms_data_file_of_a_known_table(self):
        for round_dir in self.round_dirs():
            for path in (p for p in round_dir.rglob("*") if p.is_file()):
                key = path.relative_to(round_dir).as_posix()
                bucket_folder, schema, table, *date_folders, name = key.split("/")
                self.assertEqual(bucket_folder, "dms", key)
                table_id = f"{schema}.{table}"
                self.assertIn(table_id, self.summary["tables"], key)
                pattern = LOAD_NAME if round_dir.name == FULL_LOAD_ROUND else CDC_NAME
                match = pattern.fullmatch(name)
                self.assertIsNotNone(match, key)
                self.assertEqual(match.group(2), self.info(table_id)["format"], key)
                # Only CDC files of a table with DatePartitionEnabled sit in date folders, and
                # those spell the date of the file's name.
                in_date_folders = pattern is CDC_NAME and self.info(table_id)["cdc_date_folders"]
                expected_folders = [name[:4], name[4:6], name[6:8]] if in_date_folders else []
                self.assertEqual(date_folders, expected_folders, key)

    def test_full_loads_have_several_files_with_consecutive_hex_counters(self):
        for table_id, info in self.summary["tables"].items():
            loads = [p.name for r, p in self.table_files(table_id) if r == FULL_LOAD_ROUND]
            self.assertGreaterEqual(len(loads), 2, table_id)
            counters = [int(LOAD_NAME.fullmatch(n).group(1), 16) for n in loads]
            self.assertEqual(counters, list(range(1, len(loads) + 1)), table_id)
            self.assertEqual(len(loads), info["load_files"])
        orders = [p.name for _, p in self.table_files("sales.orders")]
        self.assertIn("LOAD0000000A.parquet", orders)

    def test_every_cdc_round_has_files_for_every_table(self):
        for table_id in self.summary["tables"]:
            rounds = {r for r, _ in self.table_files(table_id) if r != FULL_LOAD_ROUND}
            self.assertEqual(rounds, set(self.summary["rounds"][1:]), table_id)

    def test_csv_and_parquet_tables_are_mixed_and_one_csv_has_a_header(self):
        tables = self.summary["tables"]
        self.assertEqual(tables["sales.orders"]["format"], "parquet")
        headers = {info["csv_header"] for info in tables.values() if info["format"] == "csv"}
        self.assertEqual(headers, {True, False})

    # -- encodings -----------------------------------------------------------------------------

    def test_parquet_files_have_a_string_op_first_int64_timestamps_and_decimals(self):
        for _, path in self.table_files("sales.orders"):
            schema = parquet_schema(path)
            self.assertEqual(schema["ts"], ("INT64", "TIMESTAMP_MICROS"), path)
            self.assertEqual(schema["amount"], ("INT64", "DECIMAL"), path)
            self.assertEqual(schema["order_date"], ("INT32", "DATE"), path)
            if path.name.startswith("LOAD"):
                self.assertNotIn("Op", schema, path)
            else:
                self.assertEqual(schema["Op"], ("BYTE_ARRAY", "UTF8"), path)
                self.assertEqual(list(schema)[1], "Op", f"{path}: Op is not the first column")

    def test_added_column_appears_only_in_later_orders_files(self):
        added = {c["name"]: c["first_round"] for c in self.info("sales.orders")["added_columns"]}
        self.assertEqual(set(added), {"discount"})
        rounds_with, rounds_without = set(), set()
        for round_name, path in self.table_files("sales.orders"):
            has_it = "discount" in parquet_schema(path)
            (rounds_with if has_it else rounds_without).add(round_name)
        self.assertEqual(min(rounds_with), added["discount"])
        self.assertLess(max(rounds_without), min(rounds_with))
        # A change mid-stream: CDC files before the ALTER TABLE lack the column too.
        self.assertTrue(rounds_without - {FULL_LOAD_ROUND}, rounds_without)
        discounts = [c.values.get("discount") for c in self.changes("sales.orders")]
        self.assertTrue(any(d is not None for d in discounts))

    def test_csv_files_write_null_as_NULL_and_timestamps_to_the_second(self):
        for table_id, info in self.summary["tables"].items():
            if info["format"] != "csv":
                continue
            values = [v for c in self.changes(table_id) for v in c.values.values()]
            self.assertIn(None, values, f"{table_id}: no NULL field at all")
            declared = [c["name"] for c in self.spec(table_id)["input"]["columns"]]
            timestamps = [c["name"] for c in info["columns"] if c["type"] == "timestamp"]
            for _, path in self.table_files(table_id):
                if path.name in self.malformed_names():
                    continue
                with path.open(newline="", encoding="utf-8") as handle:
                    records = list(csv.reader(handle))
                if info["csv_header"]:
                    names, records = records[0], records[1:]
                else:
                    names = ([] if path.name.startswith("LOAD") else ["Op"]) + declared
                for record in records:
                    for name in timestamps:
                        text = record[names.index(name)]
                        ok = text == "NULL" or CSV_TIMESTAMP.fullmatch(text)
                        self.assertTrue(ok, f"{path.name}: {name}={text!r}")

    def test_commit_timestamps_strictly_increase_in_whole_milliseconds(self):
        for table_id, info in self.summary["tables"].items():
            if table_id == PAYMENTS:
                continue  # ordered like real DMS output: see the payments tests below
            previous = None
            for change in self.cdc_changes(table_id):
                ts = change.values["ts"]
                where = f"{table_id} {change.file}"
                self.assertIsNotNone(ts, f"{where}: a change without commit timestamp")
                self.assertEqual(ts.microsecond % 1000, 0, f"{where}: sub-millisecond time {ts}")
                if info["format"] == "csv":
                    self.assertEqual(ts.microsecond, 0, f"{where}: {ts} is not whole seconds")
                if previous is not None:
                    self.assertGreater(ts, previous, f"{where}: commit times go back")
                file_time = datetime.strptime(change.file[:15], "%Y%m%d-%H%M%S")
                self.assertLessEqual(ts.replace(microsecond=0), file_time, f"{where}: named early")
                previous = ts

    # -- billing.payments: real DMS Parquet with a string commit timestamp and date folders -----

    def test_payments_parquet_has_op_first_and_the_commit_timestamp_as_a_dms_string(self):
        for _, path in self.table_files(PAYMENTS):
            schema = parquet_schema(path)
            self.assertEqual(schema["ts"], ("BYTE_ARRAY", "UTF8"), path)
            self.assertEqual(schema["value_date"], ("INT32", "DATE"), path)
            self.assertEqual(schema["captured_at"], ("INT64", "TIMESTAMP_MICROS"), path)
            self.assertEqual(schema["amount"], ("INT64", "DECIMAL"), path)
            if path.name.startswith("LOAD"):
                self.assertNotIn("Op", schema, path)
            else:
                self.assertEqual(schema["Op"], ("BYTE_ARRAY", "UTF8"), path)
                self.assertEqual(list(schema)[1], "Op", f"{path}: Op is not the first column")
        changes = self.changes(PAYMENTS)
        for change in changes:
            self.assertRegex(change.values["ts"], DMS_COMMIT_TS, change)
        # Real microseconds (not always .000000) in the full load (transfer time) and in CDC
        # (commit time).
        for loaded in (True, False):
            stamps = [commit_time(c.values["ts"]) for c in changes if (c.op == "L") == loaded]
            self.assertTrue(stamps)
            self.assertTrue(any(t.microsecond % 1000 for t in stamps), f"full load: {loaded}")

    def test_payments_cdc_files_sit_in_date_folders_of_their_names_date_over_two_days(self):
        days, crossing_midnight = set(), 0
        for round_name, path in self.table_files(PAYMENTS):
            table_folder = self.table_folder(self.out / "rounds" / round_name, PAYMENTS)
            folders = path.parent.relative_to(table_folder).as_posix()
            if round_name == FULL_LOAD_ROUND:
                self.assertEqual(folders, ".", path)
                continue
            match = DATE_FOLDERS.fullmatch(folders)
            self.assertIsNotNone(match, path)
            self.assertEqual("".join(match.groups()), path.name[:8], path)
            days.add(folders)
            rows = [c for c in self.cdc_changes(PAYMENTS) if c.file == path.name]
            first_commit = commit_time(rows[0].values["ts"])
            crossing_midnight += first_commit.strftime("%Y%m%d") < path.name[:8]
        self.assertGreaterEqual(len(days), 2, days)
        # A file closed after midnight holds commits of the day before.
        self.assertGreaterEqual(crossing_midnight, 1)

    def test_payments_commit_timestamps_never_go_back_and_repeat_within_transactions(self):
        previous, repeats = None, 0
        for change in self.cdc_changes(PAYMENTS):
            ts = commit_time(change.values["ts"])
            where = f"{PAYMENTS} {change.file}"
            if previous is not None:
                self.assertGreaterEqual(ts, previous, f"{where}: commit times go back")
                repeats += ts == previous
            file_time = datetime.strptime(change.file[:15], "%Y%m%d-%H%M%S")
            self.assertLessEqual(ts.replace(microsecond=0), file_time, f"{where}: named early")
            previous = ts
        self.assertGreater(repeats, 0, "no transaction with several changes")

    def commit_timestamp_ties_across_files(self, table_id: str) -> list[tuple[Change, Change]]:
        """(last row of a CDC file, first row of the next file) pairs with the same key and the
        same commit timestamp."""
        by_file: dict[int, list[Change]] = {}
        for change in self.cdc_changes(table_id):
            by_file.setdefault(change.file_index, []).append(change)
        files = [by_file[index] for index in sorted(by_file)]
        return [
            (earlier[-1], later[0]) for earlier, later in zip(files, files[1:])
            if earlier[-1].values["ts"] == later[0].values["ts"]
            and self.key_of(table_id, earlier[-1].values) == self.key_of(table_id, later[0].values)
        ]

    def test_payments_commit_timestamp_ties_across_files_are_won_by_the_later_file(self):
        ties = self.commit_timestamp_ties_across_files(PAYMENTS)
        scenarios = self.info(PAYMENTS)["scenarios"]
        self.assertEqual(len(ties), scenarios["commit_timestamp_ties_across_files"])
        self.assertGreaterEqual(len(ties), 2)
        others = {
            table_id: len(self.commit_timestamp_ties_across_files(table_id))
            for table_id in self.summary["tables"] if table_id != PAYMENTS
        }
        self.assertEqual(set(others.values()), {0}, others)
        expected = self.expected_rows(PAYMENTS)
        columns = [c["name"] for c in self.info(PAYMENTS)["columns"]]
        last_change = {self.key_of(PAYMENTS, c.values): c for c in self.cdc_changes(PAYMENTS)}

        def row_after(change: Change) -> tuple | None:
            return None if change.op == "D" else tuple(change.values[c] for c in columns)

        for earlier, later in ties:
            key = self.key_of(PAYMENTS, later.values)
            where = f"{key} at {later.values['ts']} in {earlier.file} and {later.file}"
            self.assertIs(last_change[key], later, f"{where}: changed again later")
            found = expected.get(key)
            self.assertEqual(None if found is None else tuple(found[c] for c in columns),
                             row_after(later), f"{where}: the later file must win")
            # Had the earlier file's change won, the row would differ: the lake shows the winner.
            self.assertNotEqual(row_after(earlier), row_after(later), where)
        # The later file deletes, re-inserts, and moves a row to another partition (a U).
        self.assertEqual({later.op for _, later in ties}, {"D", "I", "U"}, ties)

    # -- manifest ------------------------------------------------------------------------------

    def test_manifest_uses_only_table_spec_fields(self):
        if self.manifest is None:
            self.skipTest("PyYAML is not installed")
        rust = TABLE_CONFIG_RS.read_text(encoding="utf-8")
        allowed = struct_fields(rust, "TableSpec") | {"cadence", "active"}
        input_fields = struct_fields(rust, "InputSpec")
        self.assertIn("on_bad_file", allowed)
        cadence = {"schedule": "rate(10 minutes)", "batch_size": 2, "max_concurrency": 2}
        self.assertEqual(self.manifest["cadences"], {"demo": cadence})
        ids = []
        for entry in self.manifest["tables"]:
            self.assertLessEqual(set(entry), allowed, entry["source"])
            self.assertLessEqual(set(entry.get("input", {})), input_fields, entry["source"])
            self.assertEqual(entry["cadence"], "demo")
            self.assertRegex(entry["target"]["table"], r"^[a-z0-9_]+$")
            ids.append(f"{entry['source']['schema']}.{entry['source']['table']}")
        self.assertEqual(sorted(ids), sorted(self.summary["tables"]))

    def test_manifest_matches_the_files(self):
        orders = self.spec("sales.orders")
        self.assertEqual(orders["partition_by"], ["month(order_date)"])
        self.assertEqual(orders["ordering"], {"commit_timestamp_column": "ts"})
        self.assertIn("identity(country)", self.spec("sales.customers")["partition_by"])
        products = self.spec("inventory.products")
        self.assertEqual(products["on_bad_file"], "skip")
        self.assertEqual(products["primary_key"], ["sku", "warehouse"])
        # Ordered by the string commit timestamp alone, its type read from the Parquet files.
        payments = self.spec(PAYMENTS)
        self.assertEqual(payments["ordering"], {"commit_timestamp_column": "ts"})
        self.assertNotIn("input", payments)
        self.assertEqual(payments["partition_by"], ["day(value_date)"])
        for table_id, info in self.summary["tables"].items():
            spec = self.spec(table_id)
            self.assertEqual(spec["primary_key"], info["primary_key"])
            self.assertEqual(spec["partition_by"], info["partition_by"])
            if info["format"] != "csv":
                continue
            declared = [c["name"] for c in spec["input"]["columns"]]
            self.assertEqual(declared, [c["name"] for c in info["columns"]], table_id)
            self.assertEqual(spec["input"]["csv_header"], info["csv_header"])
            if info["csv_header"]:
                _, first_load = self.table_files(table_id)[0]
                header = first_load.read_text(encoding="utf-8").split("\n")[0]
                self.assertEqual(header.split(","), declared)
            # Every CSV file but the malformed one parses with the declared columns and types.
            self.assertTrue(self.changes(table_id))

    # -- the malformed file --------------------------------------------------------------------

    def test_exactly_one_file_is_malformed_and_later_files_of_its_table_follow(self):
        unreadable = []
        for table_id in self.summary["tables"]:
            for round_name, path in self.table_files(table_id):
                try:
                    self.read_file(table_id, path)
                except MalformedFile:
                    unreadable.append((table_id, round_name, path))
        self.assertEqual(len(unreadable), 1, unreadable)
        table_id, round_name, path = unreadable[0]
        listed = self.info(table_id)["malformed_files"]
        key = path.relative_to(self.out / "rounds" / round_name).as_posix()
        self.assertEqual([m["key"] for m in listed], [key])
        self.assertTrue(listed[0]["reason"])
        self.assertEqual(self.spec(table_id)["on_bad_file"], "skip")
        later = [
            p for _, p in self.table_files(table_id)
            if CDC_NAME.fullmatch(p.name) and p.name > path.name
        ]
        self.assertGreaterEqual(len(later), 2, "skip must have later files to apply")

    # -- scenarios -----------------------------------------------------------------------------

    def test_updates_move_rows_between_partitions(self):
        def month(values):
            return values["order_date"].year, values["order_date"].month

        def country(values):
            return values["country"]

        def day(values):
            return values["value_date"]

        for table_id, partition in (
            ("sales.orders", month), ("sales.customers", country), (PAYMENTS, day),
        ):
            moves = sum(
                1 for change, before, _ in self.history(table_id)
                if change.op == "U" and partition(before) != partition(change.values)
            )
            self.assertGreater(moves, 0, table_id)
            self.assertEqual(moves, self.info(table_id)["scenarios"]["partition_moves"], table_id)

    def test_the_change_stream_is_a_valid_history(self):
        for table_id in self.summary["tables"]:
            for change, before, _ in self.history(table_id):
                key = self.key_of(table_id, change.values)
                creates = change.op in ("I", "L")
                where = f"{table_id} {change.file}: {change.op} of {key}"
                self.assertEqual(creates, before is None, where)

    def test_deleted_keys_are_reinserted_in_the_same_file_and_in_later_files(self):
        for table_id in self.summary["tables"]:
            same_file = later_file = 0
            deleted_in = {}
            for change, _, was_deleted in self.history(table_id):
                key = self.key_of(table_id, change.values)
                if change.op == "I" and was_deleted:
                    if deleted_in[key] == change.file:
                        same_file += 1
                    else:
                        later_file += 1
                if change.op == "D":
                    deleted_in[key] = change.file
            self.assertGreater(same_file, 0, table_id)
            self.assertGreater(later_file, 0, table_id)

    def test_keys_change_several_times_within_a_file_and_across_files(self):
        for table_id in self.summary["tables"]:
            per_file, files_per_key = {}, {}
            for change in self.cdc_changes(table_id):
                key = self.key_of(table_id, change.values)
                per_file[(change.file, key)] = per_file.get((change.file, key), 0) + 1
                files_per_key.setdefault(key, set()).add(change.file)
            self.assertGreaterEqual(max(per_file.values()), 3, table_id)
            self.assertGreaterEqual(max(len(f) for f in files_per_key.values()), 2, table_id)

    def test_customer_deletes_carry_only_the_key_and_order_deletes_the_whole_row(self):
        deletes = [c for c in self.cdc_changes("sales.customers") if c.op == "D"]
        self.assertTrue(deletes)
        for change in deletes:
            others = [v for k, v in change.values.items() if k not in ("customer_id", "ts")]
            self.assertEqual(set(others), {None}, change)
        order_deletes = [c for c in self.cdc_changes("sales.orders") if c.op == "D"]
        self.assertTrue(order_deletes)
        self.assertTrue(all(c.values["status"] is not None for c in order_deletes))

    def test_partition_values_need_hive_escaping_and_the_default_partition(self):
        countries = {r["country"] for r in self.expected_rows("sales.customers").values()}
        self.assertIn(None, countries)
        self.assertTrue(any(c and set(c) & HIVE_ESCAPED for c in countries), countries)

    # -- the source of truth -------------------------------------------------------------------

    def total_order(self, change: Change) -> tuple:
        """docs/DESIGN.md §6: full load first, then commit timestamp, file order, row."""
        loaded = change.op == "L"
        return (not loaded, None if loaded else commit_time(change.values["ts"]),
                change.file_index, change.row)

    def test_expected_tables_equal_a_replay_of_the_files_in_the_total_order(self):
        for table_id, info in self.summary["tables"].items():
            state, counts = {}, {"L": 0, "I": 0, "U": 0, "D": 0}
            for change in sorted(self.changes(table_id), key=self.total_order):
                counts[change.op] += 1
                key = self.key_of(table_id, change.values)
                if change.op == "D":
                    state.pop(key, None)
                else:
                    state[key] = change.values
            columns = [c["name"] for c in info["columns"]]
            replayed = {k: tuple(v.get(c) for c in columns) for k, v in state.items()}
            expected = {
                k: tuple(v[c] for c in columns) for k, v in self.expected_rows(table_id).items()
            }
            self.assertEqual(len(replayed), len(expected), table_id)
            differing = [k for k in expected if replayed.get(k) != expected[k]]
            self.assertEqual(differing[:5], [], table_id)
            self.assertEqual(info["rows_expected"], len(expected))
            self.assertEqual(info["load_rows"], counts["L"])
            self.assertEqual(info["cdc_rows"], {op: counts[op] for op in ("I", "U", "D")})

    def test_generation_is_deterministic_for_a_seed(self):
        def content(path: Path):
            if path.suffix == ".parquet":
                return duckdb.sql(f"SELECT * FROM read_parquet('{path}')").fetchall()
            return path.read_bytes()

        again = self.tmp / "again"
        generate(again)
        for path in sorted(p for p in self.out.rglob("*") if p.is_file()):
            twin = again / path.relative_to(self.out)
            self.assertTrue(twin.is_file(), twin)
            self.assertEqual(content(path), content(twin), path)
        other = self.tmp / "other-seed"
        generate(other, seed="8")
        customers = Path("expected", "sales.customers.parquet")
        self.assertNotEqual(content(self.out / customers), content(other / customers))

    # -- verify.py -----------------------------------------------------------------------------

    def fake_export(self, name: str, edits=None, skip=()) -> Path:
        lake = self.tmp / name
        write_fake_export(self.out / "expected", lake, self.summary, edits, skip)
        return lake

    def verify(self, lake: Path) -> subprocess.CompletedProcess:
        expected = str(self.out / "expected")
        return run_script("verify.py", "--expected", expected, "--lake", str(lake))

    def assert_table_line(self, output: str, table_id: str, *parts: str) -> None:
        line = next((l for l in output.splitlines() if l.startswith(table_id + " ")), None)
        self.assertIsNotNone(line, f"no line for {table_id}:\n{output}")
        for part in parts:
            self.assertIn(part, line)

    def test_verify_accepts_a_faithful_export(self):
        lake = self.fake_export("lake-ok")
        customers, orders = lake / "sales.customers", lake / "sales.orders"
        self.assertTrue(list(customers.glob(f"country={HIVE_DEFAULT_PARTITION}/*.parquet")))
        self.assertTrue(list(customers.glob("country=*%*/*.parquet")))
        self.assertTrue(list(orders.glob("year=*/month=*/*.parquet")))
        self.assertTrue(list((lake / PAYMENTS).glob("year=*/month=*/day=*/*.parquet")))
        done = self.verify(lake)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        for table_id, info in self.summary["tables"].items():
            rows = str(info["rows_expected"])
            self.assert_table_line(
                done.stdout, table_id, f"source {rows:>8}", f"lake {rows:>8}", "missing 0",
                "unexpected 0", "duplicate keys 0", "OK",
            )
            self.assertIn(f"/{table_id}/**/*.parquet', hive_partitioning = true", done.stdout)
        self.assertIn('duckdb -c "SELECT', done.stdout)

    def test_verify_fails_on_a_dropped_row(self):
        drop = "DELETE FROM t WHERE order_id = (SELECT max(order_id) FROM t)"
        done = self.verify(self.fake_export("lake-dropped", edits={"sales.orders": drop}))
        self.assertEqual(done.returncode, 1, done.stdout)
        self.assert_table_line(done.stdout, "sales.orders", "missing 1", "unexpected 0", "MISMATCH")
        self.assert_table_line(done.stdout, "sales.customers", "OK")
        self.assertIn("not in the lake", done.stdout)
        self.assertIn("MISMATCH in sales.orders", done.stdout)

    def test_verify_fails_on_a_changed_value_and_names_the_column(self):
        change = (
            "UPDATE t SET credit_limit = credit_limit + 1 "
            "WHERE customer_id = (SELECT min(customer_id) FROM t)"
        )
        done = self.verify(self.fake_export("lake-changed", edits={"sales.customers": change}))
        self.assertEqual(done.returncode, 1, done.stdout)
        self.assert_table_line(
            done.stdout, "sales.customers", "missing 1", "unexpected 1", "MISMATCH"
        )
        self.assertRegex(done.stdout, r"different\s+customer_id=\d+: credit_limit: expected")

    def test_verify_fails_on_a_row_in_the_wrong_partition(self):
        move = (
            "UPDATE t SET country = NULL "
            "WHERE customer_id = (SELECT min(customer_id) FROM t WHERE country IS NOT NULL)"
        )
        done = self.verify(self.fake_export("lake-moved", edits={"sales.customers": move}))
        self.assertEqual(done.returncode, 1, done.stdout)
        self.assert_table_line(
            done.stdout, "sales.customers", "missing 1", "unexpected 1", "MISMATCH"
        )
        self.assertRegex(done.stdout, r"country: expected '[^']+', lake None")

    def test_verify_fails_on_a_duplicate_key(self):
        duplicate = (
            "INSERT INTO t SELECT * REPLACE (quantity + 1 AS quantity) FROM t "
            "ORDER BY sku, warehouse LIMIT 1"
        )
        lake = self.fake_export("lake-duplicate", edits={"inventory.products": duplicate})
        done = self.verify(lake)
        self.assertEqual(done.returncode, 1, done.stdout)
        self.assert_table_line(
            done.stdout, "inventory.products", "unexpected 1", "duplicate keys 1", "MISMATCH"
        )
        self.assertIn("2 rows in the lake", done.stdout)

    def test_verify_fails_on_a_missing_table(self):
        done = self.verify(self.fake_export("lake-missing", skip={"inventory.products"}))
        self.assertEqual(done.returncode, 1, done.stdout)
        self.assert_table_line(done.stdout, "inventory.products", "MISMATCH")
        self.assertIn("no export directory", done.stdout)

    def test_verify_rejects_a_directory_that_is_not_expected_output(self):
        done = run_script("verify.py", "--expected", str(self.tmp), "--lake", str(self.tmp))
        self.assertEqual(done.returncode, 2)
        self.assertIn("summary.json", done.stderr)


if __name__ == "__main__":
    unittest.main()
