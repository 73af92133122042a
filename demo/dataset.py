"""The demo source database: its tables, their columns, and how rows are created and changed.

This module only *describes* the data; `generate.py` runs the description (full load, then CDC
rounds) and writes AWS DMS files. Values are SQL expressions evaluated by DuckDB, so a whole file
of rows is produced by one query. Every random choice goes through the `u(key, tag, salt)` macro,
a hash of the row's key number, a tag naming the choice, a salt (the CDC file and step) and the
seed, so the dataset is a pure function of `--seed` and `--scale`.

Names available to the expressions:

- `n`     the row's key number (every table maps it to its primary key; keys never repeat unless
          a deleted key is re-inserted on purpose);
- `salt`  an integer that differs for each CDC file and step (0 in the full load);
- `ets`   the commit timestamp of the change as a TIMESTAMP (the DMS `TimestampColumnName`
          value; a table whose `ts` column is VARCHAR gets it as DMS writes it in Parquet,
          `yyyy-MM-dd HH:mm:ss.SSSSSS`);
- `m.col` the row's current image in the source database (updates only);
- `load_rows` the number of full-load rows of the table (full load only).

How CDC changes are scripted: each CDC file picks a set of distinct keys and gives each key one
*script*, a short sequence of operations applied in order inside the file:

- `I` insert, `U` update, `D` delete;
- `M` an update that changes a partition column (the lake row must move to another partition;
  for an unpartitioned table it is an ordinary update). Files show it as `U`.

Scripts keep the change stream a valid history of a real database (no update of a missing row, no
insert of an existing key), while covering what merge engines get wrong: several changes of one
key in one file, delete + re-insert in one file, re-insert of a key deleted in an earlier file,
partition moves, deletes right after inserts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable


# ---------------------------------------------------------------------------------------------
# Expression helpers


def sql_string(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def sql_list(values) -> str:
    """A DuckDB list literal of strings or numbers (None becomes NULL)."""
    items = []
    for value in values:
        if value is None:
            items.append("NULL")
        elif isinstance(value, str):
            items.append(sql_string(value))
        else:
            items.append(repr(value))
    return "[" + ", ".join(items) + "]"


def rnd(tag: str, key: str = "n", salt: str = "salt") -> str:
    """A uniform number in [0, 1), fixed by key, tag, salt and seed."""
    return f"u({key}, {sql_string(tag)}, {salt})"


def choice(values, tag: str, key: str = "n", salt: str = "salt") -> str:
    """One of `values`, uniformly."""
    return f"pick({sql_list(values)}, {rnd(tag, key, salt)})"


def chance(probability: float, tag: str, then: str, otherwise: str) -> str:
    """`then` with the given probability, else `otherwise`."""
    return f"(CASE WHEN {rnd(tag)} < {probability} THEN {then} ELSE {otherwise} END)"


def uniform_int(low: int, high: int, tag: str, key: str = "n", salt: str = "salt") -> str:
    """An integer in [low, high]."""
    return f"({low} + CAST(floor({rnd(tag, key, salt)} * {high - low + 1}) AS BIGINT))"


def money(low: float, high: float, tag: str, key: str = "n", salt: str = "salt") -> str:
    """A decimal amount in [low, high) with cents."""
    return f"CAST(round({low} + {rnd(tag, key, salt)} * {high - low}, 2) AS DECIMAL(18,2))"


def days_after(start: str, days: str) -> str:
    """The date `days` (an integer expression) after the ISO date `start`."""
    return f"CAST(DATE '{start}' + CAST({days} AS INTEGER) AS DATE)"


# ---------------------------------------------------------------------------------------------
# Table description


@dataclass(frozen=True)
class Column:
    """One source column."""

    name: str
    #: Hive type, as declared in the manifest (`input.columns`) and in Glue.
    hive_type: str
    #: DuckDB type of the generated values (and of the expected-result file).
    sql_type: str
    #: First round whose files carry the column: a column with `since_round > 0` was added to the
    #: source table by an `ALTER TABLE` between rounds (older files lack it).
    since_round: int = 0


@dataclass(frozen=True)
class Table:
    """A source table and how the demo fills and changes it."""

    schema: str
    name: str
    #: `parquet` or `csv` (DMS `DataFormat`).
    file_format: str
    #: Whether CSV files start with a header row (DMS `AddColumnName`).
    csv_header: bool
    #: Columns in file order (the Op column of CDC files comes before them).
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    #: The manifest's `partition_by`.
    partition_by: tuple[str, ...]
    #: Source columns the partition fields read; an `M` script step changes one of them.
    partition_columns: tuple[str, ...]
    #: The manifest's `on_bad_file`.
    on_bad_file: str
    #: Whether deletes carry only the key (and the commit timestamp), as Postgres without
    #: `REPLICA IDENTITY FULL`; otherwise they carry the whole before-image.
    key_only_deletes: bool
    #: Full-load rows at scale 1.
    load_rows: int
    #: Number of `LOAD…` files of the full load.
    load_files: int
    #: CDC files per CDC round.
    cdc_files_per_round: int
    #: Keys touched per CDC file at scale 1, on average (each key gets one script; files vary
    #: between 60% and 140% of it).
    keys_per_cdc_file: int
    #: Microseconds between two consecutive commits (source transactions) of the table.
    tick_us: int
    #: `fresh(is_load)`: SQL per column (all but the commit timestamp) of a new row with key `n`.
    #: The generator casts every value to its column's type.
    fresh: Callable[[bool], dict[str, str]]
    #: `update(move)`: SQL per changed column of an update of `m`; unlisted columns keep their
    #: value. With `move`, a partition column changes so that the row lands in another partition.
    update: Callable[[bool], dict[str, str]]
    #: CDC round that gets one malformed file (quarantined by Tributary), if any.
    malformed_in_round: int | None = None
    #: First commit of CDC round 1 (later rounds follow every ROUND_SPACING); None: the demo's
    #: CDC_START.
    cdc_start: datetime | None = None
    #: Changes per source transaction, on average: the changes of one transaction share its
    #: commit timestamp (1: every change is a transaction of its own).
    changes_per_commit: float = 1.0
    #: Whether a CDC file continues the transaction the previous file of its round ended with
    #: (DMS closed the file in the middle of it): its first change has the previous file's last
    #: commit timestamp and changes the key the previous file changed last. Tributary must break
    #: that tie by file order, so the later file wins.
    commit_ties_across_files: bool = False
    #: Microseconds between the transfer times of two consecutive full-load rows (0: all rows
    #: of a LOAD file share one time).
    load_row_us: int = 0
    #: Whether CDC files sit in DMS date folders (`DatePartitionEnabled`, sequence YYYYMMDD,
    #: delimiter SLASH): `schema/table/YYYY/MM/DD/<yyyyMMdd-HHmmssSSS>.parquet`, the folders
    #: spelling the date of the file's name.
    cdc_date_folders: bool = False

    @property
    def table_id(self) -> str:
        """`schema.table`, Tributary's table id."""
        return f"{self.schema}.{self.name}"

    def columns_in_round(self, round_no: int) -> tuple[Column, ...]:
        """The columns the files of a round carry."""
        return tuple(c for c in self.columns if c.since_round <= round_no)


#: Name of the commit-timestamp column (DMS `TimestampColumnName`) in every table.
COMMIT_TS = "ts"

#: Scripts per kind of key and the share of a file's keys that get each one.
#: `live` keys exist when the file starts, `new` keys never existed, `reinsert` keys were deleted
#: in an earlier file.
SCRIPT_WEIGHTS: dict[str, dict[str, float]] = {
    "live": {
        "U": 0.40,  # one update
        "M": 0.05,  # one update that moves the row to another partition
        "UU": 0.07,  # several changes of one key in one file
        "UUU": 0.02,
        "UMU": 0.02,
        "D": 0.08,  # delete
        "UD": 0.02,  # update then delete
        "DI": 0.02,  # delete + re-insert in one file
        "UDI": 0.01,
    },
    "new": {
        "I": 0.20,
        "IU": 0.05,  # insert then update in one file
        "IUD": 0.01,  # a row that lives only inside one file
        "IDI": 0.01,  # insert + delete + re-insert in one file
    },
    "reinsert": {
        "I": 0.03,  # a key deleted in an earlier file comes back
        "IU": 0.01,
    },
}


# ---------------------------------------------------------------------------------------------
# sales.orders — Parquet, month partitions, a column added in round 2


ORDER_STATUSES_OLD = [
    "delivered", "delivered", "delivered", "delivered", "shipped", "paid", "cancelled", "returned",
]
CURRENCIES = ["EUR", "EUR", "EUR", "USD", "USD", "GBP", "CHF", "SEK"]
ORDER_NOTES = [
    "leave at the door",
    "gift wrap, no invoice in the box",
    'customer says: "call before delivery"',
    "fragile; handle with care",
    "deliver to neighbour (no. 12)",
    "priority",
]
#: Full-load orders are dated over these many days from 2023-01-01 (through 2024-05-31).
ORDER_HISTORY_DAYS = 517
#: `customer_id`s of orders refer to the first customers at scale 1.
ORDER_CUSTOMERS = 200_000


def order_fresh(is_load: bool) -> dict[str, str]:
    """A new order. Full-load orders are spread over 17 months, older ones mostly delivered;
    orders inserted by CDC are dated on their commit day and start `pending`."""
    if is_load:
        # Order ids grow with time, so the date follows n (with a little jitter).
        day = f"(n - 1) * {ORDER_HISTORY_DAYS}.0 / load_rows + {rnd('jitter')} * 2"
        order_date = days_after("2023-01-01", f"least({ORDER_HISTORY_DAYS - 1}, floor({day}))")
        status = choice(ORDER_STATUSES_OLD, "status")
    else:
        order_date = "CAST(ets AS DATE)"
        status = "'pending'"
    return {
        "order_id": "n",
        "customer_id": uniform_int(1, ORDER_CUSTOMERS, "customer"),
        "order_date": order_date,
        "status": status,
        "amount": money(5, 1500, "amount"),
        "currency": choice(CURRENCIES, "currency"),
        "note": chance(0.15, "note?", choice(ORDER_NOTES, "note"), "NULL"),
        # Only rows inserted from round 2 on get one: before, the column does not exist and
        # the generator writes NULL whatever this says.
        "discount": chance(0.3, "discount?", money(1, 50, "discount"), "NULL"),
    }


def order_update(move: bool) -> dict[str, str]:
    """An order's status advances; sometimes the amount is corrected, a note or a discount is
    set. A move re-dates the order by -2, -1, +1 or +2 months (another `month(order_date)`
    partition)."""
    paid_or_cancelled = chance(0.9, "paid?", "'paid'", "'cancelled'")
    sometimes_returned = chance(0.1, "returned?", "'returned'", "'delivered'")
    corrected_amount = f"round(m.amount * (0.8 + {rnd('amount')} * 0.4), 2)"
    changes = {
        "status": (
            f"(CASE m.status WHEN 'pending' THEN {paid_or_cancelled} WHEN 'paid' THEN 'shipped' "
            f"WHEN 'shipped' THEN 'delivered' WHEN 'delivered' THEN {sometimes_returned} "
            "ELSE m.status END)"
        ),
        "amount": chance(0.2, "amount?", corrected_amount, "m.amount"),
        "note": chance(0.1, "note?", choice(ORDER_NOTES, "note"), "m.note"),
        "discount": chance(0.4, "discount?", money(1, 50, "discount"), "m.discount"),
    }
    if move:
        months = choice([-2, -1, 1, 2], "months")
        changes["order_date"] = f"CAST(m.order_date + to_months({months}) AS DATE)"
    return changes


ORDERS = Table(
    schema="sales",
    name="orders",
    file_format="parquet",
    csv_header=False,
    columns=(
        Column(COMMIT_TS, "timestamp", "TIMESTAMP"),
        Column("order_id", "bigint", "BIGINT"),
        Column("customer_id", "bigint", "BIGINT"),
        Column("order_date", "date", "DATE"),
        Column("status", "string", "VARCHAR"),
        Column("amount", "decimal(12,2)", "DECIMAL(12,2)"),
        Column("currency", "string", "VARCHAR"),
        Column("note", "string", "VARCHAR"),
        Column("discount", "decimal(10,2)", "DECIMAL(10,2)", since_round=2),
    ),
    primary_key=("order_id",),
    partition_by=("month(order_date)",),
    partition_columns=("order_date",),
    on_bad_file="stop",
    key_only_deletes=False,
    load_rows=600_000,
    load_files=12,
    cdc_files_per_round=4,
    keys_per_cdc_file=5_000,
    tick_us=250_000,
    fresh=order_fresh,
    update=order_update,
)


# ---------------------------------------------------------------------------------------------
# sales.customers — headerless CSV, identity partitions on country, key-only deletes


#: (country, city, weight). Awkward values on purpose: non-ASCII, `'` and `/` (Hive-escaped in
#: partition paths), `&`, and a NULL country (`__HIVE_DEFAULT_PARTITION__`).
COUNTRIES = [
    ("Germany", "Berlin", 12),
    ("United States", "New York", 12),
    ("France", "Paris", 10),
    ("United Kingdom", "London", 8),
    ("Netherlands", "Amsterdam", 6),
    ("Spain", "Madrid", 6),
    ("Italy", "Milan", 6),
    ("Sweden", "Stockholm", 4),
    ("Poland", "Warsaw", 4),
    ("Brazil", "São Paulo", 4),
    ("Japan", "Tokyo", 4),
    ("India", "Bengaluru", 4),
    ("Canada", "Toronto", 4),
    ("Côte d'Ivoire", "Abidjan", 2),
    ("Curaçao", "Willemstad", 1),
    ("Bosnia & Herzegovina", "Sarajevo", 1),
    ("N/A", None, 2),
    (None, None, 2),
]
FIRST_NAMES = [
    "Anna", "Ben", "Chloé", "Dmitri", "Emma", "Farid", "Greta", "Hiro", "Inés", "Jonas", "Kwame",
    "Lena", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Viktor",
    "Wen", "Ximena", "Yusuf", "Zoë", 'Anne-Marie "Annie"',
]
LAST_NAMES = [
    "Müller", "Smith", "García", "Rossi", "Jansen", "Nowak", "Silva", "Tanaka", "Kumar",
    "O'Brien", "Dubois", "Andersson", "Smith, Jr.", "Okafor", "Kowalski", "Lee", "Nguyen",
    "Fischer", "Martin", "Ivanova",
]
EMAIL_DOMAINS = ["example.com", "mail.example.org", "example.net"]


def weighted_country_index(tag: str) -> str:
    """A 1-based index into COUNTRIES, drawn with the countries' weights."""
    cumulative, total = [], 0
    for _, _, weight in COUNTRIES:
        total += weight
        cumulative.append(total)
    return f"(1 + len(list_filter({sql_list(cumulative)}, w -> w <= {rnd(tag)} * {total})))"


def country_and_city(index: str) -> dict[str, str]:
    """The country and city columns of the COUNTRIES entry at the 1-based `index` expression."""
    return {
        "country": f"list_extract({sql_list([c for c, _, _ in COUNTRIES])}, {index})",
        "city": f"list_extract({sql_list([city for _, city, _ in COUNTRIES])}, {index})",
    }


def customer_fresh(is_load: bool) -> dict[str, str]:
    """A new customer (names with commas and quotes exercise CSV quoting)."""
    return {
        "customer_id": "n",
        "name": f"{choice(FIRST_NAMES, 'first')} || ' ' || {choice(LAST_NAMES, 'last')}",
        "email": f"'customer' || n || '@' || {choice(EMAIL_DOMAINS, 'domain')}",
        **country_and_city(weighted_country_index("country")),
        "signup_date": days_after("2015-01-01", uniform_int(0, 3400, "signup")),
        "credit_limit": f"100 * {uniform_int(5, 200, 'limit')}",
        "is_active": f"({rnd('active')} < 0.9)",
    }


def customer_update(move: bool) -> dict[str, str]:
    """A customer changes e-mail, credit limit or status; a move relocates them to another
    country (possibly to or from the NULL country)."""
    new_email = f"'customer' || n || '.' || salt || '@' || {choice(EMAIL_DOMAINS, 'domain')}"
    new_limit = f"100 * {uniform_int(5, 200, 'limit')}"
    changes = {
        "email": chance(0.2, "email?", new_email, "m.email"),
        "credit_limit": chance(0.5, "limit?", new_limit, "m.credit_limit"),
        "is_active": chance(0.15, "active?", "NOT m.is_active", "m.is_active"),
    }
    if move:
        count = len(COUNTRIES)
        known = sql_list([c for c, _, _ in COUNTRIES if c is not None])
        # The NULL country is the last entry; list_position finds no NULL, hence coalesce.
        current = f"coalesce(list_position({known}, m.country), {count})"
        # Any other entry, uniformly: shift the current index by 1..count-1.
        shift = uniform_int(1, count - 1, "country_shift")
        changes.update(country_and_city(f"(({current} - 1 + {shift}) % {count} + 1)"))
    return changes


CUSTOMERS = Table(
    schema="sales",
    name="customers",
    file_format="csv",
    csv_header=False,
    columns=(
        Column(COMMIT_TS, "timestamp", "TIMESTAMP"),
        Column("customer_id", "bigint", "BIGINT"),
        Column("name", "string", "VARCHAR"),
        Column("email", "string", "VARCHAR"),
        Column("country", "string", "VARCHAR"),
        Column("city", "string", "VARCHAR"),
        Column("signup_date", "date", "DATE"),
        Column("credit_limit", "decimal(10,2)", "DECIMAL(10,2)"),
        Column("is_active", "boolean", "BOOLEAN"),
    ),
    primary_key=("customer_id",),
    partition_by=("identity(country)",),
    partition_columns=("country",),
    on_bad_file="stop",
    key_only_deletes=True,
    load_rows=200_000,
    load_files=4,
    cdc_files_per_round=3,
    keys_per_cdc_file=2_000,
    tick_us=1_000_000,
    fresh=customer_fresh,
    update=customer_update,
)


# ---------------------------------------------------------------------------------------------
# inventory.products — CSV with header, composite key, unpartitioned, one malformed CDC file


WAREHOUSES = ["AMS-1", "BER-2", "CHI-1", "DAL-3", "SIN-1"]
PRODUCT_ADJECTIVES = [
    "Compact", "Deluxe", "Eco", "Heavy-duty", "Mini", "Pro", "Smart", "Classic", "Ultra", "Travel",
]
PRODUCT_NOUNS = [
    "Kettle", "Drill", "Backpack", "Lamp", "Chair", "Headphones", "Blender", "Tent", "Router",
    "Jacket",
]
CATEGORIES = [
    "kitchen", "tools", "outdoor", "lighting", "furniture", "audio", "networking", "apparel",
]
#: A product (sku) is stocked in every warehouse: key number n is (sku (n-1) // 5, warehouse
#: (n-1) % 5).
SKU_NUMBER = f"((n - 1) // {len(WAREHOUSES)})"


def sku_choice(values, tag: str) -> str:
    """One of `values`, fixed by the sku (the same in every warehouse, and after re-inserts)."""
    return choice(values, tag, key=SKU_NUMBER, salt="0")


def product_fresh(is_load: bool) -> dict[str, str]:
    """A product stocked in one warehouse. Name, category and price belong to the sku."""
    seconds_into_may = uniform_int(0, 30 * 86400 - 1, "counted")
    counted = f"TIMESTAMP '2024-05-01 00:00:00' + to_seconds({seconds_into_may})"
    adjective, noun = sku_choice(PRODUCT_ADJECTIVES, "adjective"), sku_choice(PRODUCT_NOUNS, "noun")
    name = f"{adjective} || ' ' || {noun}"
    return {
        "sku": f"printf('SKU-%07d', {SKU_NUMBER})",
        "warehouse": f"list_extract({sql_list(WAREHOUSES)}, 1 + (n - 1) % {len(WAREHOUSES)})",
        "product_name": name,
        "category": sku_choice(CATEGORIES, "category"),
        "quantity": uniform_int(0, 500, "quantity"),
        "unit_price": money(1, 300, "price", key=SKU_NUMBER, salt="0"),
        # NULL: not counted since it was stocked.
        "last_counted": chance(0.95, "counted?", counted, "NULL"),
    }


def product_update(move: bool) -> dict[str, str]:
    """Stock moves by -20..+20 (never below 0), prices rise now and then, stock is re-counted.
    The table is unpartitioned, so a move is an ordinary update."""
    return {
        "quantity": f"greatest(0, m.quantity + {uniform_int(-20, 20, 'delta')})",
        "unit_price": chance(0.1, "price?", "round(m.unit_price * 1.05, 2)", "m.unit_price"),
        "last_counted": chance(0.3, "counted?", "ets - INTERVAL 10 MINUTE", "m.last_counted"),
    }


PRODUCTS = Table(
    schema="inventory",
    name="products",
    file_format="csv",
    csv_header=True,
    columns=(
        Column(COMMIT_TS, "timestamp", "TIMESTAMP"),
        Column("sku", "string", "VARCHAR"),
        Column("warehouse", "string", "VARCHAR"),
        Column("product_name", "string", "VARCHAR"),
        Column("category", "string", "VARCHAR"),
        Column("quantity", "int", "INTEGER"),
        Column("unit_price", "decimal(10,2)", "DECIMAL(10,2)"),
        Column("last_counted", "timestamp", "TIMESTAMP"),
    ),
    primary_key=("sku", "warehouse"),
    partition_by=(),
    partition_columns=(),
    on_bad_file="skip",
    key_only_deletes=False,
    load_rows=200_000,
    load_files=5,
    cdc_files_per_round=3,
    keys_per_cdc_file=2_500,
    tick_us=1_000_000,
    fresh=product_fresh,
    update=product_update,
    malformed_in_round=2,
)

# ---------------------------------------------------------------------------------------------
# billing.payments — exactly what a DMS Parquet task with a commit-timestamp column and
# DatePartitionEnabled writes: `ts` a string, ordering by it alone, CDC files in date folders


PAYMENT_METHODS = ["card", "card", "card", "sepa_debit", "paypal", "bank_transfer", "apple_pay"]
PAYMENT_STATUSES_OLD = [
    "settled", "settled", "settled", "settled", "settled", "captured", "refunded", "failed",
]
#: Full-load payments are booked over these many days before the full load (from 2024-05-20).
PAYMENT_HISTORY_DAYS = 14
#: `order_id`s of payments refer to orders at scale 1.
PAYMENT_ORDERS = 600_000


def payment_fresh(is_load: bool) -> dict[str, str]:
    """A new payment. Full-load payments are booked over the two weeks before the load, most of
    them settled and captured some time on their value date; payments inserted by CDC are
    booked on their commit day and start `authorized`, not yet captured."""
    if is_load:
        day = f"floor((n - 1) * {PAYMENT_HISTORY_DAYS}.0 / load_rows)"
        value_date = days_after("2024-05-20", day)
        status = choice(PAYMENT_STATUSES_OLD, "status")
        into_day = uniform_int(0, 86_400_000_000 - 1, "captured_at")
        captured = f"CAST({value_date} AS TIMESTAMP) + to_microseconds({into_day})"
        captured_at = f"(CASE WHEN {status} = 'failed' THEN NULL ELSE {captured} END)"
    else:
        value_date = "CAST(ets AS DATE)"
        status = "'authorized'"
        captured_at = "NULL"
    return {
        "payment_id": "n",
        "order_id": uniform_int(1, PAYMENT_ORDERS, "order"),
        "value_date": value_date,
        "method": choice(PAYMENT_METHODS, "method"),
        "amount": money(1, 2000, "amount"),
        "currency": choice(CURRENCIES, "currency"),
        "status": status,
        "captured_at": captured_at,
    }


def payment_update(move: bool) -> dict[str, str]:
    """A payment advances: authorized → captured (at its commit time, to the microsecond) or
    failed, captured → settled, settled → sometimes refunded. A move re-books it to a value date
    1 to 3 days earlier or later (another `day(value_date)` partition)."""
    captures = rnd("captured?")
    sometimes_refunded = chance(0.1, "refunded?", "'refunded'", "'settled'")
    changes = {
        "status": (
            f"(CASE m.status WHEN 'authorized' THEN (CASE WHEN {captures} < 0.9 THEN 'captured' "
            "ELSE 'failed' END) WHEN 'captured' THEN 'settled' "
            f"WHEN 'settled' THEN {sometimes_refunded} ELSE m.status END)"
        ),
        "captured_at": (
            f"(CASE WHEN m.status = 'authorized' AND {captures} < 0.9 THEN ets "
            "ELSE m.captured_at END)"
        ),
    }
    if move:
        days = choice([-3, -2, -1, 1, 2, 3], "rebook")
        changes["value_date"] = f"CAST(m.value_date + CAST({days} AS INTEGER) AS DATE)"
    return changes


PAYMENTS = Table(
    schema="billing",
    name="payments",
    file_format="parquet",
    csv_header=False,
    columns=(
        # DMS writes its TimestampColumnName column as a string in Parquet, full load and CDC.
        Column(COMMIT_TS, "string", "VARCHAR"),
        Column("payment_id", "bigint", "BIGINT"),
        Column("order_id", "bigint", "BIGINT"),
        Column("value_date", "date", "DATE"),
        Column("method", "string", "VARCHAR"),
        Column("amount", "decimal(12,2)", "DECIMAL(12,2)"),
        Column("currency", "string", "VARCHAR"),
        Column("status", "string", "VARCHAR"),
        Column("captured_at", "timestamp", "TIMESTAMP"),
    ),
    primary_key=("payment_id",),
    partition_by=("day(value_date)",),
    partition_columns=("value_date",),
    on_bad_file="stop",
    key_only_deletes=False,
    load_rows=120_000,
    load_files=3,
    cdc_files_per_round=3,
    keys_per_cdc_file=1_500,
    # Not a whole number of milliseconds: commit times carry real microseconds.
    tick_us=173_291,
    fresh=payment_fresh,
    update=payment_update,
    # Rounds at 12:00, 18:00 and half a second before midnight: round 3 commits on 2024-06-03
    # and closes its files on 2024-06-04, so CDC files sit in two date folders at any scale.
    cdc_start=datetime(2024, 6, 3, 11, 59, 59, 500_000),
    changes_per_commit=2.0,
    commit_ties_across_files=True,
    load_row_us=37,
    cdc_date_folders=True,
)

#: Every table of the demo, in generation order.
TABLES: tuple[Table, ...] = (ORDERS, CUSTOMERS, PRODUCTS, PAYMENTS)
