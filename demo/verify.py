#!/usr/bin/env python3
"""Compares Tributary's lake tables with the demo's source of truth, row by row.

    verify.py --expected OUT_DIR/expected --lake EXPORT_DIR [--examples N]

`--expected` is the `expected/` directory written by generate.py: one `<schema>.<table>.parquet`
per table (the final source rows) and `summary.json` (the tables and their primary keys).
`--lake` holds one directory per table, named `<schema>.<table>`, with the lake table's Parquet
files in Hive layout (`k=v/…` partition folders, possibly nested, values Hive-escaped,
`__HIVE_DEFAULT_PARTITION__` for null), as `tributary local export` writes them. Folders and
files whose names start with `_` or `.` are not data (Hive convention) and are ignored.

For each table, DuckDB reads the lake files (partition folders become columns; files with and
without later-added columns are unioned by name), keeps exactly the expected columns (so
Tributary's meta columns such as `cdc_order` and date-partition columns such as `year`/`month`
are left out), casts them to the expected types, and compares both sides as multisets (EXCEPT ALL
both ways): a row is "missing" when the lake lacks it or holds it with any other value, and
"unexpected" when the lake holds a row the source does not. Primary keys occurring more than once
in the lake are counted too.

Prints one line per table, e.g.

    sales.orders  source   612345  lake   612345  missing 0  unexpected 0  duplicate keys 0  OK

with up to N example differences for a table that does not match, then ready-to-paste DuckDB
commands to explore each lake table.

Exit status: 0 when every table matches; 1 when any table differs or its export is missing;
2 when the expected directory is unusable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

#: How a null partition value is spelled in Hive paths.
HIVE_DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"
#: How DuckDB reads a lake table: partition folders as VARCHAR columns, schemas unioned by name.
LAKE_READ_OPTIONS = "hive_partitioning = true, hive_types_autocast = false, union_by_name = true"


class UnusableExpected(Exception):
    """The expected directory cannot be used (not written by generate.py, or incomplete)."""


def quoted(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def sql_string(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def is_hidden(name: str) -> bool:
    """Hive, Spark and Athena skip names starting with `_` or `.` (metadata, temporary files)."""
    return name.startswith(("_", "."))


def lake_files(table_dir: Path) -> list[str]:
    """The table's data files: every `*.parquet` below `table_dir` outside hidden folders."""
    found = []
    for root, dirs, files in os.walk(table_dir):
        dirs[:] = sorted(d for d in dirs if not is_hidden(d))
        found += [
            os.path.join(root, f) for f in sorted(files)
            if f.endswith(".parquet") and not is_hidden(f)
        ]
    return found


def folder_keys(table_dir: Path, file: str) -> list[str]:
    """The partition keys in a file's path below the table folder, outermost first
    (`year=2024/month=01/part.parquet` → year, month)."""
    folders = Path(file).relative_to(table_dir).parts[:-1]
    return [part.split("=", 1)[0] for part in folders if "=" in part]


def columns_of(con: duckdb.DuckDBPyConnection, relation_sql: str) -> list[tuple[str, str]]:
    """(name, type) of a relation's columns."""
    return [(row[0], row[1]) for row in con.execute(f"DESCRIBE {relation_sql}").fetchall()]


def format_row(names: list[str], row: tuple) -> str:
    """`{a: 1, b: NULL}`."""
    values = ", ".join(f"{n}: {'NULL' if v is None else v}" for n, v in zip(names, row))
    return "{" + values + "}"


@dataclass
class TableResult:
    """The outcome of comparing one table."""

    table_id: str
    source_rows: int = 0
    lake_rows: int | None = None
    missing: int = 0
    unexpected: int = 0
    duplicate_keys: int = 0
    #: Problems that make the table fail besides row differences (no export, missing column).
    problems: list[str] = field(default_factory=list)
    #: Example differences, one text line each.
    examples: list[str] = field(default_factory=list)
    #: Columns that come from partition folder names, outermost first.
    partition_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        differences = self.missing + self.unexpected + self.duplicate_keys
        return not self.problems and differences == 0

    def line(self, width: int) -> str:
        """The table's report line, the table id padded to `width`."""
        lake = "-" if self.lake_rows is None else str(self.lake_rows)
        return (
            f"{self.table_id:<{width}}  source {self.source_rows:>8}  lake {lake:>8}  "
            f"missing {self.missing}  unexpected {self.unexpected}  "
            f"duplicate keys {self.duplicate_keys}  {'OK' if self.ok else 'MISMATCH'}"
        )


class TableComparison:
    """Loads one table's expected rows and lake rows into DuckDB temp tables (`expected_rows`,
    `lake_rows`) and compares them."""

    def __init__(self, con: duckdb.DuckDBPyConnection, table_id: str, expected_file: Path,
                 primary_key: list[str]):
        self.con = con
        self.primary_key = primary_key
        self.result = TableResult(table_id)
        source = f"read_parquet({sql_string(str(expected_file))})"
        self.columns = columns_of(con, f"SELECT * FROM {source}")
        self.names = [name for name, _ in self.columns]
        self.key_order = ", ".join(quoted(k) for k in primary_key)
        con.execute(f"CREATE OR REPLACE TEMP TABLE expected_rows AS SELECT * FROM {source}")
        self.result.source_rows = self.count("SELECT count(*) FROM expected_rows")

    def count(self, sql: str) -> int:
        (value,) = self.con.execute(sql).fetchone()
        return value

    def load_lake(self, table_dir: Path, files: list[str]) -> None:
        """Reads the lake files into `lake_rows`: the expected columns, from the files or from the
        partition folders (`__HIVE_DEFAULT_PARTITION__` read as null), cast to the expected
        types. An expected column the lake lacks is a problem (and reads as null)."""
        listing = "[" + ", ".join(sql_string(f) for f in files) + "]"
        stored_only = "hive_partitioning = false, union_by_name = true"
        stored = columns_of(self.con, f"SELECT * FROM read_parquet({listing}, {stored_only})")
        in_files = {name.lower() for name, _ in stored}
        lake_rows_sql = f"SELECT * FROM read_parquet({listing}, {LAKE_READ_OPTIONS})"
        readable = columns_of(self.con, lake_rows_sql)
        lake_names = {name.lower(): name for name, _ in readable}
        depth = {key.lower(): i for i, key in enumerate(folder_keys(table_dir, files[0]))}
        self.result.partition_columns = sorted(
            (name for name, _ in readable if name.lower() not in in_files),
            key=lambda name: depth.get(name.lower(), len(depth)),
        )
        values = []
        for name, sql_type in self.columns:
            lake_name = lake_names.get(name.lower())
            if lake_name is None:
                self.result.problems.append(f"column `{name}` is not in the lake table")
                value = "NULL"
            elif lake_name in self.result.partition_columns:
                value = f"NULLIF({quoted(lake_name)}, {sql_string(HIVE_DEFAULT_PARTITION)})"
            else:
                value = quoted(lake_name)
            values.append(f"CAST({value} AS {sql_type}) AS {quoted(name)}")
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE lake_rows AS SELECT {', '.join(values)} "
            f"FROM ({lake_rows_sql})"
        )
        self.result.lake_rows = self.count("SELECT count(*) FROM lake_rows")

    def compare(self, examples: int) -> None:
        """Counts missing and unexpected rows and duplicate keys, and collects examples."""
        for name, first, second in (
            ("missing_rows", "expected_rows", "lake_rows"),
            ("unexpected_rows", "lake_rows", "expected_rows"),
        ):
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {name} AS "
                f"SELECT * FROM {first} EXCEPT ALL SELECT * FROM {second}"
            )
        self.result.missing = self.count("SELECT count(*) FROM missing_rows")
        self.result.unexpected = self.count("SELECT count(*) FROM unexpected_rows")
        self.result.duplicate_keys = self.count(
            f"SELECT count(*) FROM (SELECT {self.key_order} FROM lake_rows "
            "GROUP BY ALL HAVING count(*) > 1)"
        )
        if not self.result.ok:
            self.collect_examples(examples)

    def key_text(self, row: tuple) -> str:
        """`order_id=5` of a row."""
        return ", ".join(f"{k}={row[self.names.index(k)]}" for k in self.primary_key)

    def rows_with_key(self, relation: str, row: tuple) -> list[tuple]:
        """The rows of `relation` with the same primary key as `row`."""
        condition = " AND ".join(f"{quoted(k)} IS NOT DISTINCT FROM ?" for k in self.primary_key)
        params = [row[self.names.index(k)] for k in self.primary_key]
        return self.con.execute(f"SELECT * FROM {relation} WHERE {condition}", params).fetchall()

    def first_rows(self, relation: str, limit: int) -> list[tuple]:
        return self.con.execute(
            f"SELECT * FROM {relation} ORDER BY {self.key_order} LIMIT {limit}"
        ).fetchall()

    def collect_examples(self, limit: int) -> None:
        """Up to `limit` examples of each kind, in key order: expected rows the lake lacks or
        holds with other values (naming the differing columns), lake rows of keys the source
        does not have, and duplicated keys."""
        examples = self.result.examples
        for row in self.first_rows("missing_rows", limit):
            key = self.key_text(row)
            in_lake = self.rows_with_key("lake_rows", row)
            if not in_lake:
                expected = format_row(self.names, row)
                examples.append(f"missing    {key}: not in the lake; expected {expected}")
                continue
            differences = ", ".join(
                f"{name}: expected {wanted!r}, lake {found!r}"
                for name, wanted, found in zip(self.names, row, in_lake[0])
                if wanted != found
            )
            examples.append(f"different  {key}: {differences}")
        for row in self.first_rows("unexpected_rows", limit):
            if not self.rows_with_key("expected_rows", row):
                found = format_row(self.names, row)
                examples.append(f"unexpected {self.key_text(row)}: not in the source; lake {found}")
        duplicates = self.con.execute(
            f"SELECT {self.key_order}, count(*) FROM lake_rows GROUP BY ALL HAVING count(*) > 1 "
            f"ORDER BY ALL LIMIT {limit}"
        ).fetchall()
        for *key_values, count in duplicates:
            key = ", ".join(f"{k}={v}" for k, v in zip(self.primary_key, key_values))
            examples.append(f"duplicate  {key}: {count} rows in the lake")


def compare_table(con: duckdb.DuckDBPyConnection, table_id: str, expected_file: Path,
                  lake_dir: Path, primary_key: list[str], examples: int) -> TableResult:
    """Compares one lake table with its expected rows."""
    comparison = TableComparison(con, table_id, expected_file, primary_key)
    if not lake_dir.is_dir():
        comparison.result.problems.append(f"no export directory {lake_dir}")
    elif not (files := lake_files(lake_dir)):
        comparison.result.problems.append(f"no Parquet files under {lake_dir}")
    else:
        comparison.load_lake(lake_dir, files)
        comparison.compare(examples)
    return comparison.result


def shell_double_quoted(text: str) -> str:
    """`text` inside double quotes for a POSIX shell."""
    escaped = "".join("\\" + c if c in '"$`\\' else c for c in text)
    return f'"{escaped}"'


def explore_commands(result: TableResult, lake_dir: Path, primary_key: list[str]) -> list[str]:
    """Ready-to-paste `duckdb -c` commands: a sample of the table, and rows per partition."""
    pattern = sql_string(str(lake_dir.resolve() / "**" / "*.parquet"))
    source = f"read_parquet({pattern}, hive_partitioning = true, union_by_name = true)"
    queries = [f"SELECT * FROM {source} ORDER BY {', '.join(primary_key)} LIMIT 10"]
    if result.partition_columns:
        partitions = ", ".join(result.partition_columns)
        queries.append(
            f"SELECT {partitions}, count(*) AS row_count FROM {source} GROUP BY ALL ORDER BY ALL"
        )
    return ["duckdb -c " + shell_double_quoted(q) for q in queries]


def load_summary(expected_dir: Path) -> dict:
    """The generator's summary.json: the tables and their primary keys."""
    path = expected_dir / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UnusableExpected(
            f"cannot read {path}: {error}; pass the expected/ directory written by generate.py"
        ) from None
    if not summary.get("tables"):
        raise UnusableExpected(f"{path} lists no tables")
    return summary


def verify(expected_dir: Path, lake_root: Path, examples: int) -> bool:
    """Compares every expected table; prints the report; returns whether all match."""
    summary = load_summary(expected_dir)
    keys = {table_id: info["primary_key"] for table_id, info in summary["tables"].items()}
    con = duckdb.connect()
    results = []
    for table_id in sorted(keys):
        expected_file = expected_dir / f"{table_id}.parquet"
        if not expected_file.is_file():
            raise UnusableExpected(f"{expected_file} is missing; regenerate the dataset")
        lake_dir = lake_root / table_id
        result = compare_table(con, table_id, expected_file, lake_dir, keys[table_id], examples)
        results.append(result)

    width = max(len(r.table_id) for r in results)
    for result in results:
        print(result.line(width))
        for detail in result.problems + result.examples:
            print(f"    {detail}")
    print("\nExplore the lake with DuckDB:")
    for result in results:
        if result.lake_rows is not None:
            lake_dir = lake_root / result.table_id
            for command in explore_commands(result, lake_dir, keys[result.table_id]):
                print(f"  {command}")
    failed = [r.table_id for r in results if not r.ok]
    print()
    if failed:
        print(f"MISMATCH in {', '.join(failed)}")
    else:
        print(f"all {len(results)} tables match the source")
    return not failed


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--expected", required=True, type=Path,
                        help="the expected/ directory written by generate.py")
    parser.add_argument("--lake", required=True, type=Path,
                        help="the lake export: one <schema>.<table> directory per table")
    parser.add_argument("--examples", type=int, default=5,
                        help="example differences shown per kind and table (default 5)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return 0 if verify(args.expected, args.lake, args.examples) else 1
    except UnusableExpected as error:
        print(f"verify.py: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
