#!/usr/bin/env python3
"""Reads an Iceberg table of the Glue catalog with two independent readers, pyiceberg and DuckDB.

    iceberg_tables.py rows        --table DB.TABLE [--snapshot-id ID | --as-of TIME]
    iceberg_tables.py duckdb-rows --table DB.TABLE [--snapshot-id ID | --as-of TIME]
    iceberg_tables.py snapshots   --table DB.TABLE
    iceberg_tables.py compare     --table DB.TABLE --expected ROWS.jsonl
                                  [--snapshot-id ID | --as-of TIME] [--examples N]

Runs with the Iceberg reader venv's Python (requirements-iceberg.txt, `make iceberg-venv`) against
the local AWS emulator named by `AWS_ENDPOINT_URL` (loopback only; region from `AWS_REGION`,
default us-east-1; credentials from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, default dummy).

- `rows`: pyiceberg loads the table through its Glue catalog (`glue.endpoint`, `s3.endpoint` at the
  emulator) and scans the current snapshot, or the one given by id, or the one current at `--as-of`.
- `duckdb-rows`: DuckDB reads the same table with its iceberg extension,
  `iceberg_scan(<metadata_location>)`, the metadata location read from the Glue table's parameters
  (not through pyiceberg), S3 through httpfs at the emulator; time travel with the extension's own
  `snapshot_from_id` / `snapshot_from_timestamp`. The extensions are loaded from the files of the
  PyPI wheels (duckdb-extension-iceberg, -avro, -httpfs) with automatic installation and loading
  off and an extension directory that does not exist: nothing is downloaded or installed.
- `snapshots`: the table's snapshots, oldest first: id, parent, timestamp, operation, the summary
  (Iceberg counters and `tributary.*` keys) and whether it is the current one.
- `compare`: both readers against an expected rows file, as multisets (EXCEPT ALL both ways). The
  expected file holds JSON lines, one object per row, values written as the readers print them;
  the readers' rows are compared on the expected rows' columns (table columns beyond them, such as
  Tributary's meta columns, are left out). Prints a JSON report on stdout and the differences on
  stderr.

Rows are printed as JSON lines in the table's column order, sorted by their canonical JSON text,
values normalized so both readers print the same: decimals as plain strings with the column's scale
("1.50"), timestamps ISO 8601 with microseconds ("2024-03-01T10:00:00.000000", "+00:00" for
timestamptz), dates ISO, binary as hex, non-finite floats as "NaN"/"Infinity"/"-Infinity".

`--as-of` takes an ISO 8601 time (no zone means UTC) or milliseconds since the epoch.

Exit status: 0 on success (for `compare`: both readers match); 1 when `compare` finds differences;
2 when the request cannot be served (no emulator, no such table or snapshot, bad expected file);
3 when a reader fails on the table (its traceback on stderr).
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import math
import os
import sys
import tempfile
import traceback
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

#: A row as printed: column name → normalized JSON value, in the table's column order.
Row = dict[str, Any]
#: Extensions DuckDB loads from the wheels, in load order (iceberg reads manifests with avro and
#: S3 objects with httpfs).
DUCKDB_EXTENSIONS = ("httpfs", "avro", "iceberg")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
#: DuckDB's extension directory, which nothing creates: no extension is installed, only loaded
#: from the wheels' files.
UNUSED_EXTENSION_DIRECTORY = Path(tempfile.gettempdir()) / "iceberg-tables-no-duckdb-extensions"
EXIT_DIFFERENT = 1
EXIT_UNUSABLE = 2
EXIT_READER_FAILED = 3


class UnusableRequest(Exception):
    """The request cannot be served: no emulator, no such table or snapshot, bad input."""


@dataclass(frozen=True)
class Endpoint:
    """The local AWS emulator and the dummy credentials it accepts."""

    url: str
    region: str
    access_key_id: str
    secret_access_key: str


@dataclass(frozen=True)
class TimeTravel:
    """Which snapshot to read: the current one when both fields are None."""

    snapshot_id: int | None = None
    as_of: datetime | None = None

    def describe(self) -> dict[str, Any]:
        """The selection as printed in reports."""
        if self.snapshot_id is not None:
            return {"snapshot_id": self.snapshot_id}
        if self.as_of is not None:
            return {"as_of": self.as_of.isoformat(timespec="milliseconds")}
        return {"current": True}


@dataclass(frozen=True)
class Difference:
    """One reader's rows against the expected rows, as multisets."""

    rows: int
    missing: list[Row]
    unexpected: list[Row]

    @property
    def matches(self) -> bool:
        """True when the reader returned exactly the expected rows."""
        return not self.missing and not self.unexpected


def endpoint_from_env(env: Mapping[str, str]) -> Endpoint:
    """The emulator named by `AWS_ENDPOINT_URL`; refuses anything but a loopback http endpoint."""
    url = env.get("AWS_ENDPOINT_URL", "")
    parsed = urlparse(url)
    if parsed.scheme != "http" or parsed.hostname not in LOOPBACK_HOSTS or parsed.port is None:
        raise UnusableRequest(
            f"AWS_ENDPOINT_URL must name the local emulator (http://127.0.0.1:PORT), got {url!r}: "
            "run under scripts/with-moto.sh"
        )
    return Endpoint(
        url=url.rstrip("/"),
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        access_key_id=env.get("AWS_ACCESS_KEY_ID") or "testing",
        secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or "testing",
    )


def catalog_properties(endpoint: Endpoint) -> dict[str, str]:
    """pyiceberg's Glue catalog properties: Glue and S3 at the emulator, its dummy credentials."""
    properties = {"glue.endpoint": endpoint.url, "s3.endpoint": endpoint.url}
    for service in ("glue", "s3"):
        properties[f"{service}.region"] = endpoint.region
        properties[f"{service}.access-key-id"] = endpoint.access_key_id
        properties[f"{service}.secret-access-key"] = endpoint.secret_access_key
    return properties


def glue_catalog(endpoint: Endpoint) -> Any:
    """pyiceberg's Glue catalog on the emulator."""
    from pyiceberg.catalog.glue import GlueCatalog

    return GlueCatalog("glue", **catalog_properties(endpoint))


def load_table(endpoint: Endpoint, identifier: str) -> Any:
    """The table `identifier` ("database.table") loaded through pyiceberg's Glue catalog."""
    from pyiceberg.exceptions import NoSuchTableError

    try:
        return glue_catalog(endpoint).load_table(identifier)
    except NoSuchTableError as error:
        raise UnusableRequest(
            f"no Iceberg table {identifier} in the Glue catalog: {error}"
        ) from error


def parse_as_of(text: str) -> datetime:
    """An `--as-of` value (ISO 8601, UTC when it has no zone, or epoch milliseconds), in UTC."""
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=timezone.utc)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 time or epoch milliseconds: {text}"
        ) from error
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def epoch_millis(moment: datetime) -> int:
    """Milliseconds since the epoch of an aware time (Iceberg's snapshot timestamps)."""
    return round(moment.timestamp() * 1000)


def normalize(value: Any) -> Any:
    """A reader's Python value as the JSON value both readers print for it."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (datetime, time)):
        return value.isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): normalize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    return value


def normalize_row(row: Mapping[str, Any]) -> Row:
    """A row with every value normalized, columns in their order."""
    return {column: normalize(value) for column, value in row.items()}


def canonical(row: Mapping[str, Any]) -> str:
    """The row's canonical JSON text (keys sorted): equal rows have equal texts."""
    return json.dumps(row, sort_keys=True, separators=(",", ":"))


def sorted_rows(rows: Iterable[Mapping[str, Any]]) -> list[Row]:
    """Normalized rows in a deterministic order (by canonical text)."""
    return sorted((normalize_row(row) for row in rows), key=canonical)


def pyiceberg_snapshot_id(table: Any, travel: TimeTravel) -> int | None:
    """The snapshot pyiceberg reads for `travel` (None: the current one)."""
    if travel.snapshot_id is not None:
        if table.snapshot_by_id(travel.snapshot_id) is None:
            raise UnusableRequest(f"table has no snapshot {travel.snapshot_id}")
        return travel.snapshot_id
    if travel.as_of is None:
        return None
    snapshot = table.snapshot_as_of_timestamp(epoch_millis(travel.as_of))
    if snapshot is None:
        raise UnusableRequest(f"table has no snapshot at or before {travel.as_of.isoformat()}")
    return int(snapshot.snapshot_id)


def pyiceberg_rows(table: Any, travel: TimeTravel) -> list[Row]:
    """The rows of the selected snapshot, read by pyiceberg."""
    scan = table.scan(snapshot_id=pyiceberg_snapshot_id(table, travel))
    return sorted_rows(scan.to_arrow().to_pylist())


def snapshot_records(table: Any) -> list[Row]:
    """The table's snapshots, oldest first, with their summaries."""
    current = table.current_snapshot()
    current_id = current.snapshot_id if current is not None else None
    ordered = sorted(table.snapshots(), key=lambda s: (s.timestamp_ms, s.sequence_number or 0))
    return [snapshot_record(snapshot, current_id) for snapshot in ordered]


def snapshot_record(snapshot: Any, current_id: int | None) -> Row:
    """One snapshot as printed by `snapshots`."""
    summary = snapshot.summary
    moment = datetime.fromtimestamp(snapshot.timestamp_ms / 1000, tz=timezone.utc)
    return {
        "snapshot_id": snapshot.snapshot_id,
        "parent_id": snapshot.parent_snapshot_id,
        "sequence_number": snapshot.sequence_number,
        "timestamp_ms": snapshot.timestamp_ms,
        "timestamp": moment.isoformat(timespec="milliseconds"),
        "operation": summary.operation.value if summary is not None else None,
        "summary": dict(summary.additional_properties) if summary is not None else {},
        "current": snapshot.snapshot_id == current_id,
    }


def metadata_location(endpoint: Endpoint, identifier: str) -> str:
    """The table's current metadata file, read from the Glue table's parameters."""
    import boto3

    database, _, name = identifier.rpartition(".")
    glue = boto3.client(
        "glue",
        endpoint_url=endpoint.url,
        region_name=endpoint.region,
        aws_access_key_id=endpoint.access_key_id,
        aws_secret_access_key=endpoint.secret_access_key,
    )
    try:
        table = glue.get_table(DatabaseName=database, Name=name)["Table"]
    except glue.exceptions.EntityNotFoundException as error:
        raise UnusableRequest(f"no table {identifier} in the Glue catalog") from error
    location = table.get("Parameters", {}).get("metadata_location")
    if not location:
        raise UnusableRequest(
            f"Glue table {identifier} has no metadata_location: not an Iceberg table"
        )
    return str(location)


def extension_file(name: str, duckdb_version: str) -> Path:
    """The extension file shipped in the PyPI wheel `duckdb-extension-<name>`."""
    package = importlib.resources.files(f"duckdb_extension_{name}")
    path = Path(str(package)) / "extensions" / f"v{duckdb_version}" / f"{name}.duckdb_extension"
    if not path.is_file():
        raise UnusableRequest(
            f"{path} missing: the extension wheel does not match DuckDB {duckdb_version}"
        )
    return path


def duckdb_connection(endpoint: Endpoint) -> Any:
    """An in-memory DuckDB with the wheels' extensions loaded and S3 at the emulator."""
    import duckdb

    connection = duckdb.connect(
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "extension_directory": str(UNUSED_EXTENSION_DIRECTORY),
        }
    )
    connection.execute("SET TimeZone = 'UTC'")
    for name in DUCKDB_EXTENSIONS:
        connection.execute(f"LOAD '{extension_file(name, duckdb.__version__)}'")
    configure_s3(connection, endpoint)
    return connection


def configure_s3(connection: Any, endpoint: Endpoint) -> None:
    """Points httpfs's S3 client at the emulator (path-style URLs, plain http)."""
    settings = {
        "s3_endpoint": urlparse(endpoint.url).netloc,
        "s3_url_style": "path",
        "s3_use_ssl": False,
        "s3_region": endpoint.region,
        "s3_access_key_id": endpoint.access_key_id,
        "s3_secret_access_key": endpoint.secret_access_key,
    }
    for name, value in settings.items():
        connection.execute(f"SET {name} = ?", [value])


def scan_arguments(location: str, travel: TimeTravel) -> tuple[str, list[Any]]:
    """`iceberg_scan`'s arguments for `travel` (placeholders) and their values."""
    if travel.snapshot_id is not None:
        return "?, snapshot_from_id = ?", [location, travel.snapshot_id]
    if travel.as_of is not None:
        as_of = travel.as_of.astimezone(timezone.utc).replace(tzinfo=None)
        return "?, snapshot_from_timestamp = ?::TIMESTAMP", [location, as_of]
    return "?", [location]


def duckdb_rows(connection: Any, location: str, travel: TimeTravel) -> list[Row]:
    """The rows of the selected snapshot, read by DuckDB's `iceberg_scan`."""
    arguments, values = scan_arguments(location, travel)
    cursor = connection.execute(f"SELECT * FROM iceberg_scan({arguments})", values)
    columns = [description[0] for description in cursor.description]
    return sorted_rows(dict(zip(columns, row)) for row in cursor.fetchall())


def read_with_duckdb(endpoint: Endpoint, identifier: str, travel: TimeTravel) -> list[Row]:
    """The table's rows read by DuckDB, from the metadata location Glue holds."""
    location = metadata_location(endpoint, identifier)
    return duckdb_rows(duckdb_connection(endpoint), location, travel)


def read_expected(path: Path) -> list[Row]:
    """The expected rows file: JSON lines, one object per row, all with the same columns."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise UnusableRequest(f"cannot read the expected rows {path}: {error}") from error
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise UnusableRequest(f"{path}:{number}: not JSON: {error}") from error
        if not isinstance(row, dict):
            raise UnusableRequest(f"{path}:{number}: a row must be a JSON object")
        rows.append(row)
    return rows


def expected_columns(expected: Sequence[Row]) -> list[str]:
    """The columns compared: those of the expected rows, which must all have the same ones."""
    if not expected:
        return []
    columns = list(expected[0])
    for row in expected:
        if set(row) != set(columns):
            raise UnusableRequest(
                f"expected rows have different columns: {columns} and {list(row)}"
            )
    return columns


def project(rows: Sequence[Row], columns: Sequence[str], reader: str) -> list[Row]:
    """The rows restricted to `columns` (all of them when `columns` is empty)."""
    if not columns:
        return list(rows)
    absent = [column for column in columns if rows and column not in rows[0]]
    if absent:
        raise UnusableRequest(
            f"{reader} rows lack expected column(s) {absent}; they have {list(rows[0])}"
        )
    return [{column: row[column] for column in columns} for row in rows]


def difference(expected: Sequence[Row], actual: Sequence[Row]) -> Difference:
    """Expected rows the reader lacks and rows it returned beyond them, counting duplicates."""
    wanted = Counter(canonical(row) for row in expected)
    got = Counter(canonical(row) for row in actual)
    return Difference(
        rows=len(actual),
        missing=rows_in(wanted - got, expected),
        unexpected=rows_in(got - wanted, actual),
    )


def rows_in(texts: Counter[str], rows: Sequence[Row]) -> list[Row]:
    """The rows of `rows` whose canonical texts `texts` counts, as often as it counts them."""
    left = Counter(texts)
    chosen = []
    for row in rows:
        text = canonical(row)
        if left[text] > 0:
            left[text] -= 1
            chosen.append(row)
    return chosen


def comparison_report(
    identifier: str,
    travel: TimeTravel,
    expected: Sequence[Row],
    readers: Mapping[str, Difference],
    examples: int,
) -> Row:
    """The JSON report of `compare`, at most `examples` rows listed per kind of difference."""
    return {
        "table": identifier,
        "snapshot": travel.describe(),
        "expected_rows": len(expected),
        "readers": {
            name: {
                "rows": found.rows,
                "missing": len(found.missing),
                "unexpected": len(found.unexpected),
                "missing_examples": found.missing[:examples],
                "unexpected_examples": found.unexpected[:examples],
            }
            for name, found in readers.items()
        },
        "ok": all(found.matches for found in readers.values()),
    }


def describe_differences(report: Mapping[str, Any]) -> list[str]:
    """Human-readable lines for the report: one per reader, then its example rows."""
    lines = []
    for name, found in report["readers"].items():
        verdict = "OK" if not found["missing"] and not found["unexpected"] else "DIFFERENT"
        lines.append(
            f"{report['table']} {name:9} expected {report['expected_rows']} rows {found['rows']}"
            f"  missing {found['missing']}  unexpected {found['unexpected']}  {verdict}"
        )
        lines += [f"  missing:    {canonical(row)}" for row in found["missing_examples"]]
        lines += [f"  unexpected: {canonical(row)}" for row in found["unexpected_examples"]]
    return lines


def compare(
    endpoint: Endpoint, identifier: str, travel: TimeTravel, expected_path: Path, examples: int
) -> Row:
    """Both readers against the expected rows file."""
    expected = read_expected(expected_path)
    columns = expected_columns(expected)
    read = {
        "pyiceberg": pyiceberg_rows(load_table(endpoint, identifier), travel),
        "duckdb": read_with_duckdb(endpoint, identifier, travel),
    }
    readers = {
        name: difference(expected, project(rows, columns, name)) for name, rows in read.items()
    }
    return comparison_report(identifier, travel, expected, readers, examples)


def print_json_lines(rows: Iterable[Row]) -> None:
    """One JSON object per line on stdout."""
    for row in rows:
        print(json.dumps(row))


def parser() -> argparse.ArgumentParser:
    """The command line."""
    top = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("rows", "rows read by pyiceberg"),
        ("duckdb-rows", "rows read by DuckDB"),
        ("snapshots", "the table's snapshots"),
        ("compare", "both readers vs expected rows"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--table", required=True, help="Glue database.table")
        if name != "snapshots":
            add_time_travel(command)
        if name == "compare":
            command.add_argument(
                "--expected", required=True, type=Path, help="expected rows, JSON lines"
            )
            command.add_argument(
                "--examples", type=int, default=10, help="differences listed per reader"
            )
    return top


def add_time_travel(command: argparse.ArgumentParser) -> None:
    """`--snapshot-id` or `--as-of` (neither: the current snapshot)."""
    travel = command.add_mutually_exclusive_group()
    travel.add_argument("--snapshot-id", type=int, help="read this snapshot")
    travel.add_argument("--as-of", type=parse_as_of, help="read the snapshot current at this time")


def run(arguments: argparse.Namespace, endpoint: Endpoint) -> int:
    """Serves one parsed command; returns the exit status."""
    if arguments.command == "snapshots":
        print_json_lines(snapshot_records(load_table(endpoint, arguments.table)))
        return 0
    travel = TimeTravel(snapshot_id=arguments.snapshot_id, as_of=arguments.as_of)
    if arguments.command == "rows":
        print_json_lines(pyiceberg_rows(load_table(endpoint, arguments.table), travel))
        return 0
    if arguments.command == "duckdb-rows":
        print_json_lines(read_with_duckdb(endpoint, arguments.table, travel))
        return 0
    report = compare(endpoint, arguments.table, travel, arguments.expected, arguments.examples)
    print(json.dumps(report, indent=2))
    print("\n".join(describe_differences(report)), file=sys.stderr)
    return 0 if report["ok"] else EXIT_DIFFERENT


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Entry point: parses the command line, reads, prints; returns the exit status."""
    arguments = parser().parse_args(argv)
    try:
        return run(arguments, endpoint_from_env(os.environ if env is None else env))
    except UnusableRequest as error:
        print(f"iceberg_tables: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    except Exception:  # a reader failed on the table: that is a finding, with its traceback
        traceback.print_exc()
        return EXIT_READER_FAILED


if __name__ == "__main__":
    sys.exit(main())
