"""Self-check of the Iceberg readers (iceberg_tables.py) on a table pyiceberg writes (sample_table).

    make readers-check
    scripts/with-moto.sh .venv-iceberg/bin/python -m unittest discover -s tests/readers

The value normalization and the comparison are checked on their own; the readers are checked on a
table written to the local emulator (AWS_ENDPOINT_URL, set by scripts/with-moto.sh): both must
return its rows, time travel to its first snapshot must return the first batch only, and `compare`
must pass on the right rows and fail, naming the row, on a wrong one.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import iceberg_tables
import sample_table
from iceberg_tables import Difference, Endpoint, UnusableRequest

SCRIPT = Path(iceberg_tables.__file__)
LOCAL = Endpoint(
    url="http://127.0.0.1:1", region="us-east-1", access_key_id="k", secret_access_key="s"
)


class NormalizationTests(unittest.TestCase):
    def test_decimals_keep_their_scale_and_never_use_exponents(self) -> None:
        self.assertEqual(iceberg_tables.normalize(Decimal("1.50")), "1.50")
        self.assertEqual(iceberg_tables.normalize(Decimal("0E-10")), "0.0000000000")
        self.assertEqual(iceberg_tables.normalize(Decimal("-12345678.99")), "-12345678.99")

    def test_timestamps_always_carry_microseconds_and_their_zone(self) -> None:
        self.assertEqual(
            iceberg_tables.normalize(datetime(2024, 3, 2)), "2024-03-02T00:00:00.000000"
        )
        aware = datetime(2024, 3, 2, 1, 2, 3, 4, tzinfo=timezone.utc)
        self.assertEqual(iceberg_tables.normalize(aware), "2024-03-02T01:02:03.000004+00:00")
        self.assertEqual(iceberg_tables.normalize(date(2024, 3, 2)), "2024-03-02")

    def test_values_json_cannot_carry_become_strings(self) -> None:
        self.assertEqual(iceberg_tables.normalize(b"\x00\xff"), "00ff")
        self.assertEqual(iceberg_tables.normalize(float("nan")), "NaN")
        self.assertEqual(iceberg_tables.normalize([float("-inf"), 1.5]), ["-Infinity", 1.5])

    def test_sorted_rows_order_does_not_depend_on_read_order(self) -> None:
        rows: list[dict[str, Any]] = [{"id": 2, "v": Decimal("1.0")}, {"id": 1, "v": None}]
        self.assertEqual(
            iceberg_tables.sorted_rows(rows), iceberg_tables.sorted_rows(reversed(rows))
        )

    def test_as_of_without_zone_is_utc_and_digits_are_epoch_milliseconds(self) -> None:
        expected = datetime(2024, 3, 1, 10, tzinfo=timezone.utc)
        self.assertEqual(iceberg_tables.parse_as_of("2024-03-01T10:00:00"), expected)
        self.assertEqual(iceberg_tables.parse_as_of("2024-03-01T11:00:00+01:00"), expected)
        self.assertEqual(
            iceberg_tables.parse_as_of(str(iceberg_tables.epoch_millis(expected))), expected
        )


class ComparisonTests(unittest.TestCase):
    def test_difference_counts_duplicates_both_ways(self) -> None:
        found = iceberg_tables.difference(
            [{"a": 1}, {"a": 1}, {"a": 2}], [{"a": 1}, {"a": 3}, {"a": 3}]
        )
        self.assertEqual(
            found, Difference(rows=3, missing=[{"a": 1}, {"a": 2}], unexpected=[{"a": 3}, {"a": 3}])
        )
        self.assertFalse(found.matches)

    def test_rows_are_compared_on_the_expected_columns_only(self) -> None:
        rows = [{"id": 1, "cdc_order": 7, "name": "a"}]
        projected = iceberg_tables.project(rows, ["name", "id"], "reader")
        self.assertTrue(iceberg_tables.difference([{"id": 1, "name": "a"}], projected).matches)

    def test_an_expected_column_the_table_lacks_is_unusable(self) -> None:
        with self.assertRaisesRegex(UnusableRequest, "lack expected column"):
            iceberg_tables.project([{"id": 1}], ["id", "name"], "reader")

    def test_expected_rows_with_different_columns_are_unusable(self) -> None:
        with self.assertRaisesRegex(UnusableRequest, "different columns"):
            iceberg_tables.expected_columns([{"id": 1}, {"id": 2, "name": "b"}])


class EnvironmentTests(unittest.TestCase):
    def test_only_a_loopback_emulator_is_accepted(self) -> None:
        for url in (
            "",
            "https://glue.us-east-1.amazonaws.com",
            "http://10.0.0.1:5000",
            "http://127.0.0.1",
        ):
            with self.subTest(url=url), self.assertRaises(UnusableRequest):
                iceberg_tables.endpoint_from_env({"AWS_ENDPOINT_URL": url})
        endpoint = iceberg_tables.endpoint_from_env({"AWS_ENDPOINT_URL": "http://127.0.0.1:5000/"})
        self.assertEqual((endpoint.url, endpoint.region), ("http://127.0.0.1:5000", "us-east-1"))

    def test_duckdb_loads_the_extensions_from_the_wheels_without_installing_any(self) -> None:
        connection = iceberg_tables.duckdb_connection(LOCAL)
        settings = connection.execute(
            "SELECT current_setting('autoinstall_known_extensions'),"
            " current_setting('autoload_known_extensions'),"
            " current_setting('extension_directory')"
        ).fetchone()
        self.assertEqual(settings[:2], (False, False))
        self.assertEqual(settings[2], str(iceberg_tables.UNUSED_EXTENSION_DIRECTORY))
        self.assertFalse(
            Path(settings[2]).exists(), "nothing installed into the extension directory"
        )
        loaded = dict(
            connection.execute(
                "SELECT extension_name, install_mode FROM duckdb_extensions()"
                " WHERE loaded AND extension_name IN ?",
                [list(iceberg_tables.DUCKDB_EXTENSIONS)],
            ).fetchall()
        )
        self.assertEqual(
            loaded, {name: "NOT_INSTALLED" for name in iceberg_tables.DUCKDB_EXTENSIONS}
        )


def run_main(*argv: str) -> tuple[int, str]:
    """Runs the script's main in-process; returns its exit status and stdout."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        status = iceberg_tables.main(list(argv))
    return status, out.getvalue()


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


class GlueTableTests(unittest.TestCase):
    """The readers on one sample table written by pyiceberg to the emulator."""

    sample: sample_table.SampleTable

    @classmethod
    def setUpClass(cls) -> None:
        endpoint = iceberg_tables.endpoint_from_env(os.environ)  # no emulator: fail, never skip
        cls.sample = sample_table.create_sample_table(endpoint)

    def rows(self, command: str, *travel: str) -> list[dict[str, Any]]:
        status, out = run_main(command, "--table", self.sample.table, *travel)
        self.assertEqual(status, 0)
        return json_lines(out)

    def compare(self, expected: list[dict[str, Any]], *options: str) -> tuple[int, dict[str, Any]]:
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl") as file:
            file.write("".join(json.dumps(row) + "\n" for row in expected))
            file.flush()
            status, out = run_main(
                "compare", "--table", self.sample.table, "--expected", file.name, *options
            )
        return status, json.loads(out)

    def test_both_readers_return_the_current_snapshot_rows(self) -> None:
        expected = sorted(self.sample.final_rows, key=iceberg_tables.canonical)
        self.assertEqual(self.rows("rows"), expected)
        self.assertEqual(self.rows("duckdb-rows"), expected)

    def test_time_travel_to_the_first_snapshot_returns_the_first_batch_only(self) -> None:
        expected = sorted(self.sample.first_rows, key=iceberg_tables.canonical)
        first = self.snapshots()[0]
        for travel in (
            ["--snapshot-id", str(first["snapshot_id"])],
            ["--as-of", first["timestamp"]],
        ):
            for command in ("rows", "duckdb-rows"):
                with self.subTest(command=command, travel=travel):
                    self.assertEqual(self.rows(command, *travel), expected)

    def test_reading_before_the_first_snapshot_is_unusable(self) -> None:
        before = datetime.fromtimestamp(
            self.snapshots()[0]["timestamp_ms"] / 1000, tz=timezone.utc
        ) - timedelta(days=1)
        status, _ = run_main("rows", "--table", self.sample.table, "--as-of", before.isoformat())
        self.assertEqual(status, iceberg_tables.EXIT_UNUSABLE)

    def snapshots(self) -> list[dict[str, Any]]:
        return self.rows("snapshots")

    def test_snapshots_list_each_commit_with_parent_operation_and_tributary_summary(self) -> None:
        snapshots = self.snapshots()
        self.assertEqual([s["snapshot_id"] for s in snapshots], self.sample.snapshot_ids)
        self.assertEqual([s["parent_id"] for s in snapshots], [None, *self.sample.snapshot_ids[:2]])
        self.assertEqual([s["operation"] for s in snapshots], ["append", "append", "overwrite"])
        self.assertEqual(
            [s["summary"][sample_table.SNAPSHOT_VERSION] for s in snapshots], ["1", "2", "3"]
        )
        self.assertEqual([s["current"] for s in snapshots], [False, False, True])
        self.assertEqual(
            snapshots[2]["summary"]["deleted-records"], "2", "the rewritten file's two rows"
        )
        self.assertEqual(snapshots[2]["summary"]["total-records"], str(len(self.sample.final_rows)))

    def test_compare_passes_when_both_readers_return_the_expected_rows(self) -> None:
        status, report = self.compare(self.sample.final_rows)
        self.assertEqual((status, report["ok"]), (0, True), report)

    def test_compare_reports_a_wrong_row_for_each_reader(self) -> None:
        wrong = [dict(row) for row in self.sample.final_rows]
        wrong[0]["amount"] = "1.51"
        status, report = self.compare(wrong)
        self.assertEqual((status, report["ok"]), (iceberg_tables.EXIT_DIFFERENT, False))
        for name, found in report["readers"].items():
            with self.subTest(reader=name):
                self.assertEqual(found["missing_examples"], [wrong[0]])
                self.assertEqual(found["unexpected_examples"], [self.sample.final_rows[0]])

    def test_compare_on_a_column_subset_and_an_older_snapshot(self) -> None:
        first_ids = [{"id": row["id"]} for row in self.sample.first_rows]
        status, report = self.compare(first_ids, "--snapshot-id", str(self.sample.snapshot_ids[0]))
        self.assertEqual((status, report["ok"]), (0, True), report)
        status, report = self.compare(first_ids)
        self.assertEqual(
            report["readers"]["duckdb"]["missing_examples"], [{"id": sample_table.DELETED_ID}]
        )

    def test_a_reader_failing_on_the_table_is_told_apart_from_a_difference(self) -> None:
        missing_snapshot = str(max(self.sample.snapshot_ids) + 1)
        status, _ = run_main(
            "duckdb-rows", "--table", self.sample.table, "--snapshot-id", missing_snapshot
        )
        self.assertEqual(status, iceberg_tables.EXIT_READER_FAILED)

    def test_an_unknown_table_is_unusable(self) -> None:
        for command in ("rows", "duckdb-rows", "snapshots"):
            with self.subTest(command=command):
                status, _ = run_main(command, "--table", f"{self.sample.table}_missing")
                self.assertEqual(status, iceberg_tables.EXIT_UNUSABLE)

    def test_the_script_runs_as_a_program(self) -> None:
        result = subprocess.run(
            [sys.executable, str(SCRIPT), "duckdb-rows", "--table", self.sample.table],
            capture_output=True,
            text=True,
            check=False,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(
            json_lines(result.stdout), sorted(self.sample.final_rows, key=iceberg_tables.canonical)
        )


if __name__ == "__main__":
    unittest.main()
