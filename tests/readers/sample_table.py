#!/usr/bin/env python3
"""A small Iceberg table written by pyiceberg through the Glue catalog of the local emulator.

    sample_table.py            (prints the table's JSON description on stdout)

The fixture of the reader checks (test_iceberg_tables.py, and tributary-tests' iceberg_readers
test through the Rust helper): the table is written by pyiceberg itself, so the readers are proven
before any Tributary writer exists. Its shape covers what Tributary's Iceberg tables hold: an
identity partition (`region`, with a null) and a day partition (`updated_at`), a decimal, a
timestamp, a string with nulls, `identifier-field-ids` = `id`. Three snapshots, each with a
`tributary.snapshot-version` summary key: two appends, then a copy-on-write delete of one row whose
file holds another row (an `overwrite` that rewrites that file).

The expected rows are written out by hand in the readers' printed form (iceberg_tables.py), not
computed with its normalization, so the checks test that too.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import boto3
import pyarrow as pa
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import DayTransform, IdentityTransform
from pyiceberg.types import DecimalType, LongType, NestedField, StringType, TimestampType

import iceberg_tables

SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=True),
    NestedField(2, "region", StringType()),
    NestedField(3, "amount", DecimalType(10, 2)),
    NestedField(4, "updated_at", TimestampType()),
    NestedField(5, "note", StringType()),
    identifier_field_ids=[1],
)
PARTITION_SPEC = PartitionSpec(
    PartitionField(source_id=2, field_id=1000, transform=IdentityTransform(), name="region"),
    PartitionField(source_id=4, field_id=1001, transform=DayTransform(), name="updated_at_day"),
)
FIRST_BATCH = [
    {
        "id": 1,
        "region": "eu",
        "amount": Decimal("1.50"),
        "updated_at": datetime(2024, 3, 1, 10, 0, 0, 123456),
        "note": None,
    },
    {
        "id": 2,
        "region": "eu",
        "amount": Decimal("-3.00"),
        "updated_at": datetime(2024, 3, 1, 23, 59, 59),
        "note": "gone",
    },
    {
        "id": 3,
        "region": "us",
        "amount": Decimal("0.00"),
        "updated_at": datetime(2024, 3, 2),
        "note": "x",
    },
]
SECOND_BATCH = [
    {
        "id": 4,
        "region": None,
        "amount": None,
        "updated_at": datetime(2024, 3, 2, 12, 30),
        "note": None,
    },
    {
        "id": 5,
        "region": "us",
        "amount": Decimal("12345678.99"),
        "updated_at": datetime(2024, 3, 3, 1, 2, 3, 4),
        "note": "é",
    },
]
#: The row the third snapshot deletes; its file (region eu, 2024-03-01) keeps id 1.
DELETED_ID = 2
#: FIRST_BATCH as the readers print it.
FIRST_ROWS: list[dict[str, Any]] = [
    {
        "id": 1,
        "region": "eu",
        "amount": "1.50",
        "updated_at": "2024-03-01T10:00:00.123456",
        "note": None,
    },
    {
        "id": 2,
        "region": "eu",
        "amount": "-3.00",
        "updated_at": "2024-03-01T23:59:59.000000",
        "note": "gone",
    },
    {
        "id": 3,
        "region": "us",
        "amount": "0.00",
        "updated_at": "2024-03-02T00:00:00.000000",
        "note": "x",
    },
]
#: The rows of the current snapshot as the readers print them.
FINAL_ROWS: list[dict[str, Any]] = [
    FIRST_ROWS[0],
    FIRST_ROWS[2],
    {
        "id": 4,
        "region": None,
        "amount": None,
        "updated_at": "2024-03-02T12:30:00.000000",
        "note": None,
    },
    {
        "id": 5,
        "region": "us",
        "amount": "12345678.99",
        "updated_at": "2024-03-03T01:02:03.000004",
        "note": "é",
    },
]
SNAPSHOT_VERSION = "tributary.snapshot-version"


@dataclass(frozen=True)
class SampleTable:
    """The table written, and what its readers must return."""

    table: str
    location: str
    snapshot_ids: list[int]
    first_rows: list[dict[str, Any]]
    final_rows: list[dict[str, Any]]


def create_sample_table(endpoint: iceberg_tables.Endpoint) -> SampleTable:
    """Writes a fresh sample table (own bucket and Glue database) and returns its description."""
    suffix = uuid.uuid4().hex[:12]
    bucket, database = f"readers-{suffix}", f"readers_{suffix}"
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint.url,
        region_name=endpoint.region,
        aws_access_key_id=endpoint.access_key_id,
        aws_secret_access_key=endpoint.secret_access_key,
    )
    s3.create_bucket(Bucket=bucket)
    catalog = iceberg_tables.glue_catalog(endpoint)
    catalog.create_namespace(database)
    location = f"s3://{bucket}/{database}/orders"
    table = catalog.create_table(
        f"{database}.orders", SCHEMA, location=location, partition_spec=PARTITION_SPEC
    )
    commit_batches(table)
    return SampleTable(
        table=f"{database}.orders",
        location=location,
        snapshot_ids=[snapshot.snapshot_id for snapshot in table.snapshots()],
        first_rows=FIRST_ROWS,
        final_rows=FINAL_ROWS,
    )


def commit_batches(table: Any) -> None:
    """The three snapshots: append, append, copy-on-write delete."""
    arrow_schema = SCHEMA.as_arrow()
    table.append(
        pa.Table.from_pylist(FIRST_BATCH, schema=arrow_schema),
        snapshot_properties={SNAPSHOT_VERSION: "1"},
    )
    table.append(
        pa.Table.from_pylist(SECOND_BATCH, schema=arrow_schema),
        snapshot_properties={SNAPSHOT_VERSION: "2"},
    )
    table.delete(f"id = {DELETED_ID}", snapshot_properties={SNAPSHOT_VERSION: "3"})


def main() -> int:
    """Writes a sample table on the emulator named by AWS_ENDPOINT_URL; prints its description."""
    try:
        endpoint = iceberg_tables.endpoint_from_env(os.environ)
    except iceberg_tables.UnusableRequest as error:
        print(f"sample_table: {error}", file=sys.stderr)
        return iceberg_tables.EXIT_UNUSABLE
    print(json.dumps(asdict(create_sample_table(endpoint))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
