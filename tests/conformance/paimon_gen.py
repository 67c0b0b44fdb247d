#!/usr/bin/env python3
"""Generate Paimon primary-key tables with pypaimon 2.1.0 plus their expected reads.

Library use::

    import paimon_gen
    metas = paimon_gen.generate(warehouse_dir, out_dir, cases=None)

CLI use::

    python paimon_gen.py --warehouse DIR --out DIR [--case NAME ...] [--list]

For every case this creates the table ``conf.<case>`` in a filesystem catalog
over ``--warehouse`` (dropping an existing one first), writes it with several
commits through pypaimon's catalog/write API, and writes into ``<out>/<case>/``:

* ``snapshot-<k>.jsonl`` for every snapshot id k = 1..N: pypaimon's own read of
  snapshot k (time travel through the ``scan.snapshot-id`` table option),
  rendered canonically (see ``canonical.py``), one JSON object per line,
  lines sorted.
* ``meta.json``: table identifier, schema (field ids, names, Paimon types as
  they appear in the schema file plus a readable SQL string), primary keys,
  partition keys, bucket count, options, number of snapshots, rows per
  snapshot.

Each snapshot's pypaimon read is also checked against an independent Python
model of the table (a dict from primary key to row, applying the commits in
order); any difference aborts generation, so the expected files are known to
be right, not just what pypaimon happens to return.

Everything is deterministic for a given case (seeded ``random.Random``) except
file names / UUIDs / commit times that pypaimon chooses itself.

Row kinds: pypaimon 2.1.0 has no per-row kind argument on ``write_arrow``. It
honours the table option ``rowkind.field`` (as Java Paimon does): a STRING
column of the table whose value ('+I', '-U', '+U', '-D') becomes the row's
``_VALUE_KIND`` in the data file. The column is an ordinary table column and is
stored and read back like any other (deleted rows disappear; surviving rows
keep '+I' / '+U'). Cases with ``rowkind=True`` use a column named ``op``.

What pypaimon 2.1.0 could not do (also listed in README.md):

* No per-row kind argument on ``write_arrow``: row kinds need ``rowkind.field``
  (see above).
* Its merging read (a bucket with more than one data file) converts rows to
  Python through polars, truncating TIMESTAMP(7..9) values to microseconds;
  key columns are truncated before keys are compared, so keys differing only
  below a microsecond would be merged. The files hold the exact nanoseconds.
  When that is the only difference from the model, the model's exact rows are
  written and ``meta.json`` notes it under ``pypaimon_read_deviations``.
  ``key_types_b2`` uses TIMESTAMP(9) keys that are distinct in microseconds.
* A NULL partition value needs the partition columns to be nullable, but all
  primary-key columns (which must include the partition keys) are forced
  NOT NULL unless the table option ``primary-key.nullable=true`` is set
  (pypaimon-specific option). The ``part_null`` case sets it. Even then, once
  a snapshot exists, writing into a partition with a NULL value fails in the
  writer's partition-stats filter (TypeError comparing None), so only commit 1
  writes NULL partitions.
* pypaimon never compacts when writing primary-key tables: every commit adds
  level-0 files, so all merging happens at read time. ``_DELETE_ROW_COUNT`` in
  manifest entries is always 0 and value stats are not collected.
* ``sequence.field``, non-deduplicate merge engines, deletion vectors, dynamic
  bucket (-1) and non-Parquet file formats are not exercised here.
"""

import argparse
import json
import os
import random
import re
import shutil
import sys
import time
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import canonical  # noqa: E402

DATABASE = "conf"

# ==========================================================================
# Value generators
# ==========================================================================

# Single code points only, so that lengths are code-point lengths.
_CHARS = (
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    + list(" _-.,;:!?'\"\\/{}[]<>@#$%^&*()+=|~`")
    + ["\t", "\n", "\r", "é", "ß", "ø", "Ω", "д", "ж", "日", "本", "語", "中", "文",
       "한", "국", "ع", "ب", "😀", "🚀", "🎉", "𝔘", "\u2028", "\u00a0", "€"]
)

UNICODE_EDGES = [
    "",
    "日本語テキスト",
    "emoji 😀🚀 and ZWJ 👨‍👩‍👧 skin 👍🏽",
    "中文, 한국어, العربية",
    "quotes \" and \\ backslash / slash",
    "ctl:\t\n\r\u0000\u0001\u001f\u007f end",
    "line\u2028sep\u2029para",
    " leading and trailing ",
    "NaN",
    "null",
]


def rand_text(rng, max_len, min_len=0):
    n = rng.randint(min_len, max_len)
    return "".join(rng.choice(_CHARS) for _ in range(n))


def rand_decimal(rng, precision, scale):
    digits = rng.randint(1, precision)
    unscaled = rng.randint(-(10 ** digits - 1), 10 ** digits - 1)
    return Decimal("%dE-%d" % (unscaled, scale))


def max_decimal(precision, scale, sign=1):
    return Decimal("%s%sE-%d" % ("-" if sign < 0 else "", "9" * precision, scale))


def rand_double(rng):
    r = rng.random()
    if r < 0.1:
        return float(rng.randint(-1000, 1000))
    if r < 0.2:
        return rng.choice([0.1, 0.2, 0.3, 1 / 3, 2 / 3]) * rng.choice([1, -1])
    return rng.choice([-1, 1]) * rng.random() * 10 ** rng.randint(-300, 300)


def rand_float(rng):
    r = rng.random()
    if r < 0.1:
        return float(rng.randint(-1000, 1000))
    return rng.choice([-1, 1]) * rng.random() * 10 ** rng.randint(-37, 37)


MS_PER_DAY = 86_400_000
DAYS_0001 = -719162          # 0001-01-01
DAYS_9999 = 2932896          # 9999-12-31
SECS_0001 = DAYS_0001 * 86400
SECS_9999_END = (DAYS_9999 + 1) * 86400  # 10000-01-01T00:00:00


def rand_epoch(rng, unit):
    """Random epoch value in ``unit`` between ~1900 and ~2100, with varying
    sub-second precision (so every fraction length shows up)."""
    per_sec = {"ms": 1000, "us": 1_000_000, "ns": 1_000_000_000}[unit]
    secs = rng.randint(-2_208_988_800, 4_102_444_800)
    r = rng.random()
    if r < 0.25:
        sub = 0
    elif r < 0.5 or unit == "ms":
        sub = rng.randint(0, 999) * (per_sec // 1000)
    elif r < 0.75 or unit == "us":
        sub = rng.randint(0, 999_999) * (per_sec // 1_000_000)
    else:
        sub = rng.randint(0, per_sec - 1)
    return secs * per_sec + sub


def _ts_edges(unit):
    per_sec = {"ms": 1000, "us": 1_000_000, "ns": 1_000_000_000}[unit]
    edges = [0, -1, 1, -per_sec, per_sec // 1000 * 123,            # 1970-01-01T00:00:00.123
             951_782_400 * per_sec,                                # 2000-02-29
             -2_208_988_800 * per_sec - 1,                         # 1899-12-31T23:59:59.999..
             1_700_000_000 * per_sec + per_sec - 1]
    if unit == "ns":
        # Paimon stores TIMESTAMP(9) as int64 nanos: about 1677..2262.
        edges += [-9_000_000_000_000_000_000, 9_000_000_000_000_000_000 + 123_456_789]
    else:
        edges += [SECS_0001 * per_sec, SECS_9999_END * per_sec - 1]
    return edges


def time_rand_secs(rng):
    return rng.randint(0, 86399) * 1000


def time_rand_millis(rng):
    return rng.randint(0, MS_PER_DAY - 1)


# Every primitive column of the all-types cases:
#   (name, Paimon type string, random value fn, edge values)
# Values are given in the form pyarrow accepts for the Arrow type pypaimon
# maps the Paimon type to (ints for temporal types: days / millis of day /
# epoch units).
PRIMITIVES = [
    ("c_boolean", "BOOLEAN", lambda r: r.random() < 0.5, [True, False]),
    ("c_tinyint", "TINYINT", lambda r: r.randint(-128, 127), [-128, 127, 0, -1]),
    ("c_smallint", "SMALLINT", lambda r: r.randint(-32768, 32767), [-32768, 32767, 0, -1]),
    ("c_int", "INT", lambda r: r.randint(-2 ** 31, 2 ** 31 - 1), [-2 ** 31, 2 ** 31 - 1, 0, -1]),
    ("c_bigint", "BIGINT", lambda r: r.randint(-2 ** 63, 2 ** 63 - 1),
     [-2 ** 63, 2 ** 63 - 1, 0, -1, 2 ** 53 + 1, -(2 ** 53) - 1]),
    ("c_float", "FLOAT", rand_float,
     [3.4028234663852886e38, -3.4028234663852886e38, float("nan"), float("inf"), float("-inf"),
      -0.0, 1.401298464324817e-45, 1.1754943508222875e-38, 0.1, 16777217.0]),
    ("c_double", "DOUBLE", rand_double,
     [1.7976931348623157e308, -1.7976931348623157e308, float("nan"), float("inf"), float("-inf"),
      -0.0, 5e-324, 2.2250738585072014e-308, 0.1, 9007199254740993.0, 1e16, 123456789.125]),
    ("c_dec9_3", "DECIMAL(9, 3)", lambda r: rand_decimal(r, 9, 3),
     [max_decimal(9, 3), max_decimal(9, 3, -1), Decimal("0.000"), Decimal("-0.001"), Decimal("12.300")]),
    ("c_dec18_4", "DECIMAL(18, 4)", lambda r: rand_decimal(r, 18, 4),
     [max_decimal(18, 4), max_decimal(18, 4, -1), Decimal("0"), Decimal("-0.0500"), Decimal("1E-4")]),
    ("c_dec38_10", "DECIMAL(38, 10)", lambda r: rand_decimal(r, 38, 10),
     [max_decimal(38, 10), max_decimal(38, 10, -1), Decimal("0"), Decimal("1E-10"),
      Decimal("-1E-10"), Decimal("12345678901234567890.1234567890")]),
    ("c_dec38_0", "DECIMAL(38, 0)", lambda r: rand_decimal(r, 38, 0),
     [max_decimal(38, 0), max_decimal(38, 0, -1), Decimal("0"), Decimal(2 ** 64), Decimal(-(2 ** 63) - 1)]),
    ("c_char", "CHAR(8)", lambda r: rand_text(r, 8, 8),
     ["", "abcdefgh", "日本語日本語日本", "😀😀😀😀😀😀😀😀", "short"]),
    ("c_varchar", "VARCHAR(32)", lambda r: rand_text(r, 32), UNICODE_EDGES[:8] + ["x" * 32]),
    ("c_string", "STRING", lambda r: rand_text(r, 60), UNICODE_EDGES + ["long " * 400]),
    ("c_binary", "BINARY(4)", lambda r: bytes(r.getrandbits(8) for _ in range(4)),
     [b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x80\x00\x7f\x01"]),
    ("c_varbinary", "VARBINARY(16)", lambda r: bytes(r.getrandbits(8) for _ in range(r.randint(0, 16))),
     [b"", b"\x00", b"\xff" * 16, b"ab"]),
    ("c_bytes", "BYTES", lambda r: bytes(r.getrandbits(8) for _ in range(r.randint(0, 40))),
     [b"", bytes(range(256)) * 2, "😀".encode("utf-8"), b"\xfe\xff"]),
    ("c_date", "DATE", lambda r: r.randint(-36500, 36500),
     # 2024-02-29, 1900-02-28, 1900-03-01, 1900-01-01, 2000-02-29
     [0, -1, 1, DAYS_0001, DAYS_9999, 19782, -25509, -25508, -25567, 11016]),
    ("c_time", "TIME", time_rand_secs, [0, 86_399_000, 43_200_000, 1000]),
    ("c_time3", "TIME(3)", time_rand_millis, [0, MS_PER_DAY - 1, 1, 999, 1000, 45_296_789]),
    ("c_ts3", "TIMESTAMP(3)", lambda r: rand_epoch(r, "ms"), _ts_edges("ms")),
    ("c_ts6", "TIMESTAMP(6)", lambda r: rand_epoch(r, "us"), _ts_edges("us")),
    ("c_ts9", "TIMESTAMP(9)", lambda r: rand_epoch(r, "ns"), _ts_edges("ns")),
    # Java Paimon's serialized spelling of TIMESTAMP_LTZ(3):
    ("c_ltz3", "TIMESTAMP(3) WITH LOCAL TIME ZONE", lambda r: rand_epoch(r, "ms"), _ts_edges("ms")),
    ("c_ltz6", "TIMESTAMP_LTZ(6)", lambda r: rand_epoch(r, "us"), _ts_edges("us")),
    ("c_ltz9", "TIMESTAMP_LTZ(9)", lambda r: rand_epoch(r, "ns"), _ts_edges("ns")),
    ("c_nn", "STRING NOT NULL", lambda r: rand_text(r, 10), ["", "not null"]),
]


# ==========================================================================
# Case definitions
# ==========================================================================


class Case:
    """One table: its schema, options and a deterministic commit plan.

    ``key_of(i)`` gives the primary-key (incl. partition) columns of logical
    key number i; ``row_of(rng, i, version)`` the other columns (version 0 is
    the first insert; edge values are used for the first keys at version 0).
    """

    def __init__(self, name, description, fields, primary_keys, partition_keys=(),
                 options=None, rowkind=True, seed=1, commits=4, initial=200,
                 per_commit=60, key_of=None, row_of=None, delete_all_at=None,
                 writes_per_commit=1, later_ok=None):
        self.name = name
        self.description = description
        self.fields = list(fields)             # [(name, paimon type json)]
        self.primary_keys = list(primary_keys)
        self.partition_keys = list(partition_keys)
        self.options = dict(options or {})
        self.rowkind = rowkind
        if rowkind:
            self.fields.append(("op", "STRING"))
            self.options["rowkind.field"] = "op"
        self.seed = seed
        self.commits = commits                 # == number of snapshots
        self.initial = initial
        self.per_commit = per_commit
        self.key_of = key_of
        self.row_of = row_of
        self.delete_all_at = delete_all_at     # commit number (1-based) that deletes every row
        self.writes_per_commit = writes_per_commit
        # Keys that commits after the first may touch (default: all).
        self.later_ok = later_ok or (lambda i: True)

    @property
    def snapshots(self):
        return self.commits

    @property
    def table(self):
        return "%s.%s" % (DATABASE, self.name)


def _edge_or_random(rng, i, version, gen, edges):
    if version == 0 and i < len(edges):
        return edges[i]
    return gen(rng)


def primitive_row_of(null_every=11):
    def row_of(rng, i, version):
        row = {}
        all_null = version == 0 and i == len(max(PRIMITIVES, key=lambda p: len(p[3]))[3])
        for name, ptype, gen, edges in PRIMITIVES:
            nullable = "NOT NULL" not in ptype
            if nullable and (all_null or rng.randrange(null_every) == 0):
                row[name] = None
            else:
                row[name] = _edge_or_random(rng, i, version, gen, edges)
        return row
    return row_of


def _bigint_key(i):
    # Spread keys over the whole BIGINT range, with the extremes first.
    specials = [-2 ** 63, 2 ** 63 - 1, 0, -1]
    if i < len(specials):
        return specials[i]
    return (i * 2654435761) % (2 ** 40) - 2 ** 39


PRIMITIVE_FIELDS = [("id", "BIGINT NOT NULL")] + [(p[0], p[1]) for p in PRIMITIVES]

_REGIONS = ["eu", "us-east", "ap/south=1", "日本", "a b%c"]
_DT = ["2024-01-01", "2024-01-02", "2023-12-31", "1999-12-31", "a/b=c d"]


def _part1_key(i):
    return {"dt": _DT[i % len(_DT)], "id": i // len(_DT)}


def _part1_row(rng, i, version):
    return {
        "name": None if rng.randrange(9) == 0 else rand_text(rng, 20),
        "amount": None if rng.randrange(9) == 0 else rand_decimal(rng, 10, 2),
        "score": rand_double(rng),
        "updated": rand_epoch(rng, "us"),
        "version": version,
    }


def _part2_key(i):
    return {
        "region": _REGIONS[i % len(_REGIONS)],
        "day": [19723, 19724, -1, 0][(i // 5) % 4],   # DATE partition incl. 1969-12-31
        "user_id": (i // 20) - 10,
        "item": ["", "x", "日本", "😀"][(i // 3) % 4] + str(i % 3),
    }


def _part2_row(rng, i, version):
    return {
        "qty": rng.randint(-5, 1000),
        "price": None if rng.randrange(7) == 0 else rand_decimal(rng, 12, 4),
        "note": None if rng.randrange(5) == 0 else rand_text(rng, 15),
        "ts": rand_epoch(rng, "ms"),
        "version": version,
    }


def _part_null_key(i):
    return {
        "p": [None, "", "x", "y"][i % 4],
        "q": [None, 0, 1][(i // 4) % 3],
        "k": None if (i // 12) == 0 else (i // 12),  # one NULL key component per partition
    }


def _part_null_row(rng, i, version):
    return {"v": None if rng.randrange(4) == 0 else rand_text(rng, 8), "n": rng.randint(-100, 100),
            "version": version}


def _composite_key(i):
    return {"a": (i % 7) - 3, "b": ["", "a", "B", "ä", "日本", "😀", "aa"][(i // 7) % 7],
            "c": ((i // 49) * 7919) - 50_000}


def _composite_row(rng, i, version):
    return {"x": None if rng.randrange(6) == 0 else rng.randint(-2 ** 31, 2 ** 31 - 1),
            "y": rand_text(rng, 12), "z": rng.random() < 0.5, "version": version}


def _keytypes_key(i):
    # Keys of many types, so that merging must compare them exactly the way
    # the writer sorted them (signed numbers, decimals, byte strings, UTF-8).
    return {
        "k_str": ["", "A", "a", "Z", "é", "日", "😀", "\u0000", "ab", "a\u0000"][i % 10],
        "k_dec": Decimal("%dE-4" % ((i // 10) % 5 * 1234567 - 3000000)),
        # distinct even at microsecond precision: pypaimon's merging read
        # truncates TIMESTAMP(9) to micros *before* comparing keys, so keys
        # that differ only in nanoseconds would be merged into one row.
        "k_ts": [-1, 0, 1001, -10 ** 18 + 1, 10 ** 18 + 7][(i // 50) % 5],
        "k_bin": [b"", b"\x00", b"\x7f", b"\x80", b"\xff", b"\x00\x01"][(i // 250) % 6],
        # (k_str, k_dec, k_ts, k_bin) is unique for i < 1500; the rest vary too
        "k_date": [-1, 0, 19723][(i * 7 + i // 1500) % 3],
        "k_bool": (i * 5) % 3 == 1,
        "k_int": (i % 11) - 5 + 100 * (i // 1500),
    }


def _keytypes_row(rng, i, version):
    return {"v": rand_text(rng, 6), "version": version}


def _nested_row(rng, i, version):
    def maybe(v, p=6):
        return None if rng.randrange(p) == 0 else v

    def rand_row():
        return {
            "a": maybe(rng.randint(-1000, 1000)),
            "b": maybe(rand_text(rng, 6)),
            "d": maybe(rand_decimal(rng, 10, 3)),
            "ts": maybe(rand_epoch(rng, "ns")),
            "inner": maybe({"flag": maybe(rng.random() < 0.5), "tags": maybe([rand_text(rng, 4) for _ in range(rng.randint(0, 3))])}),
        }

    edges = [
        {"arr_int": [], "arr_str": [], "map_str": [], "map_int": [], "r": {"a": None, "b": None, "d": None, "ts": None, "inner": None},
         "arr_row": [], "map_arr": [], "arr_arr": [[], None, [None]]},
        {"arr_int": [None], "arr_str": [None, "", "日本😀"], "map_str": [("", None), ("k", 1)],
         "map_int": [(-2 ** 31, "min"), (2 ** 31 - 1, None)],
         "r": {"a": -1, "b": "\"q\"", "d": Decimal("-0.001"), "ts": -1, "inner": {"flag": None, "tags": []}},
         "arr_row": [None, {"x": None, "y": None}], "map_arr": [("e", []), ("n", None)], "arr_arr": None},
        {"arr_int": None, "arr_str": None, "map_str": None, "map_int": None, "r": None,
         "arr_row": None, "map_arr": None, "arr_arr": None},
    ]
    if version == 0 and i < len(edges):
        return dict(edges[i], version=version)
    return {
        "arr_int": maybe([maybe(rng.randint(-2 ** 31, 2 ** 31 - 1)) for _ in range(rng.randint(0, 5))]),
        "arr_str": maybe([maybe(rand_text(rng, 8)) for _ in range(rng.randint(0, 4))]),
        "map_str": maybe([("k%d" % j, maybe(rng.randint(-2 ** 63, 2 ** 63 - 1))) for j in range(rng.randint(0, 4))]),
        "map_int": maybe([(j * 17 - 20, maybe(rand_text(rng, 5))) for j in range(rng.randint(0, 4))]),
        "r": maybe(rand_row()),
        "arr_row": maybe([maybe({"x": maybe(rng.randint(0, 9)), "y": maybe([rand_double(rng) for _ in range(rng.randint(0, 3))])})
                          for _ in range(rng.randint(0, 3))]),
        "map_arr": maybe([(rand_text(rng, 3, 1) + str(j), maybe([rng.randint(0, 99) for _ in range(rng.randint(0, 3))]))
                          for j in range(rng.randint(0, 3))]),
        "arr_arr": maybe([maybe([maybe(rand_text(rng, 3)) for _ in range(rng.randint(0, 2))]) for _ in range(rng.randint(0, 3))]),
        "version": version,
    }


NESTED_FIELDS = [
    ("id", "INT NOT NULL"),
    ("arr_int", {"type": "ARRAY", "element": "INT"}),
    ("arr_str", {"type": "ARRAY", "element": "STRING"}),
    ("map_str", {"type": "MAP", "key": "STRING NOT NULL", "value": "BIGINT"}),
    ("map_int", {"type": "MAP", "key": "INT NOT NULL", "value": "STRING"}),
    ("r", {"type": "ROW", "fields": [
        {"name": "a", "type": "INT"},
        {"name": "b", "type": "STRING"},
        {"name": "d", "type": "DECIMAL(10, 3)"},
        {"name": "ts", "type": "TIMESTAMP(9)"},
        {"name": "inner", "type": {"type": "ROW", "fields": [
            {"name": "flag", "type": "BOOLEAN"},
            {"name": "tags", "type": {"type": "ARRAY", "element": "STRING"}},
        ]}},
    ]}),
    ("arr_row", {"type": "ARRAY", "element": {"type": "ROW", "fields": [
        {"name": "x", "type": "INT"},
        {"name": "y", "type": {"type": "ARRAY", "element": "DOUBLE"}},
    ]}}),
    ("map_arr", {"type": "MAP", "key": "STRING NOT NULL", "value": {"type": "ARRAY", "element": "INT"}}),
    ("arr_arr", {"type": "ARRAY", "element": {"type": "ARRAY", "element": "STRING"}}),
    ("version", "INT"),
]


def _many_files_row(rng, i, version):
    return {"payload": rand_text(rng, 40, 20), "n": rng.randint(0, 10 ** 6), "version": version}


CASES = [
    Case("types_b1",
         "every primitive type with nulls and edge values; unpartitioned; bucket=1; "
         "+I/+U/-U/-D row kinds",
         PRIMITIVE_FIELDS, ["id"], options={"bucket": "1"}, seed=101, commits=5,
         initial=250, per_commit=70, key_of=lambda i: {"id": _bigint_key(i)},
         row_of=primitive_row_of()),
    Case("types_b4",
         "every primitive type; unpartitioned; bucket=4; row kinds",
         PRIMITIVE_FIELDS, ["id"], options={"bucket": "4"}, seed=202, commits=4,
         initial=600, per_commit=150, key_of=lambda i: {"id": _bigint_key(i)},
         row_of=primitive_row_of(null_every=5)),
    Case("part1_b3",
         "one STRING partition key (incl. '/', '=', ' ' in values); bucket=3; plain upserts "
         "(no row-kind column)",
         [("dt", "STRING"), ("id", "INT"), ("name", "VARCHAR(20)"), ("amount", "DECIMAL(10, 2)"),
          ("score", "DOUBLE"), ("updated", "TIMESTAMP(6)"), ("version", "INT")],
         ["dt", "id"], partition_keys=["dt"], options={"bucket": "3"}, rowkind=False, seed=303,
         commits=4, initial=400, per_commit=120, key_of=_part1_key, row_of=_part1_row),
    Case("part2_b2",
         "two partition keys (STRING, DATE); composite primary key of 4 columns; bucket=2; row kinds",
         [("region", "STRING"), ("day", "DATE"), ("user_id", "INT"), ("item", "STRING"), ("qty", "INT"),
          ("price", "DECIMAL(12, 4)"), ("note", "STRING"), ("ts", "TIMESTAMP(3)"), ("version", "INT")],
         ["region", "day", "user_id", "item"], partition_keys=["region", "day"],
         options={"bucket": "2"}, seed=404, commits=5, initial=400, per_commit=100,
         key_of=_part2_key, row_of=_part2_row),
    Case("part_null",
         "NULL and '' partition values (both map to __DEFAULT_PARTITION__ directories) and a NULL "
         "primary-key component; 'primary-key.nullable'='true'; bucket=1; row kinds",
         [("p", "STRING"), ("q", "INT"), ("k", "INT"), ("v", "STRING"), ("n", "INT"), ("version", "INT")],
         ["p", "q", "k"], partition_keys=["p", "q"],
         options={"bucket": "1", "primary-key.nullable": "true"}, seed=505, commits=4,
         initial=120, per_commit=40, key_of=_part_null_key, row_of=_part_null_row,
         # pypaimon 2.1.0 cannot write into a partition with a NULL value once
         # the table has a snapshot (its writer's partition-stats filter
         # compares None), so only commit 1 writes the NULL partitions.
         later_ok=lambda i: None not in (_part_null_key(i)["p"], _part_null_key(i)["q"])),
    Case("composite_b3",
         "unpartitioned; composite key (INT, STRING, BIGINT) with bucket-key=a; bucket=3; "
         "commit 3 deletes every row (empty snapshot), commit 4 re-inserts",
         [("a", "INT"), ("b", "STRING"), ("c", "BIGINT"), ("x", "INT"), ("y", "STRING"),
          ("z", "BOOLEAN"), ("version", "INT")],
         ["a", "b", "c"], options={"bucket": "3", "bucket-key": "a"}, seed=606, commits=4,
         initial=300, per_commit=80, key_of=_composite_key, row_of=_composite_row, delete_all_at=3),
    Case("key_types_b2",
         "primary key over STRING (incl. NUL, non-ASCII), DECIMAL(12, 4) (negative), TIMESTAMP(9) "
         "(pre-1970), BYTES (0x00..0xff), DATE, BOOLEAN, INT; bucket=2; row kinds",
         [("k_str", "STRING"), ("k_dec", "DECIMAL(12, 4)"), ("k_ts", "TIMESTAMP(9)"), ("k_bin", "BYTES"),
          ("k_date", "DATE"), ("k_bool", "BOOLEAN"), ("k_int", "INT"), ("v", "STRING"), ("version", "INT")],
         ["k_str", "k_dec", "k_ts", "k_bin", "k_date", "k_bool", "k_int"], options={"bucket": "2"},
         seed=707, commits=4, initial=700, per_commit=150, key_of=_keytypes_key, row_of=_keytypes_row),
    Case("nested_b2",
         "ARRAY, MAP (STRING and INT keys), ROW (nested ROW), ARRAY<ROW>, MAP<_, ARRAY>, ARRAY<ARRAY>; "
         "bucket=2; row kinds",
         NESTED_FIELDS, ["id"], options={"bucket": "2"}, seed=808, commits=4, initial=200,
         per_commit=60, key_of=lambda i: {"id": i * 3 - 100}, row_of=_nested_row),
    Case("many_files_b2",
         "target-file-size=4kb and 3 write calls per commit, so every commit writes several "
         "overlapping level-0 files per bucket; 6 commits of heavy upserts; bucket=2; no row-kind column",
         [("id", "INT"), ("payload", "STRING"), ("n", "BIGINT"), ("version", "INT")],
         ["id"], options={"bucket": "2", "target-file-size": "4kb"}, rowkind=False, seed=909,
         commits=6, initial=500, per_commit=300, key_of=lambda i: {"id": i}, row_of=_many_files_row,
         writes_per_commit=3),
]

CASES_BY_NAME = {c.name: c for c in CASES}


def case_names():
    return [c.name for c in CASES]


# ==========================================================================
# Commit planning and the reference model
# ==========================================================================


def plan_commits(case):
    """Return a list (one per commit) of lists of (index, kind, row dict)."""
    rng = random.Random(case.seed)
    version = {}
    live = []            # ordered for determinism
    live_set = set()
    dead = []
    next_i = 0
    commits = []

    def full_row(i, kind):
        v = version.get(i, -1) + 1
        version[i] = v
        row = dict(case.key_of(i))
        row.update(case.row_of(rng, i, v))
        if case.rowkind:
            row["op"] = kind
        return row

    def kill(i):
        live_set.discard(i)
        live.remove(i)
        dead.append(i)

    def revive(i):
        live_set.add(i)
        live.append(i)
        if i in dead:
            dead.remove(i)

    # commit 1: initial inserts
    ops = []
    for _ in range(case.initial):
        ops.append((next_i, "+I", full_row(next_i, "+I")))
        revive(next_i)
        next_i += 1
    commits.append(ops)

    for c in range(2, case.commits + 1):
        groups = []
        if case.delete_all_at == c:
            for i in list(live):
                groups.append([(i, "-D", full_row(i, "-D"))])
                kill(i)
            commits.append([op for g in groups for op in g])
            continue
        n = case.per_commit
        ok = case.later_ok

        def new_index():
            nonlocal next_i
            while not ok(next_i):
                next_i += 1
            next_i += 1
            return next_i - 1

        live_ok = [i for i in live if ok(i)]
        # updates of existing keys
        for i in rng.sample(live_ok, min(len(live_ok), n // 2)):
            kind = rng.choice(["+U", "+U", "+I"]) if case.rowkind else "+I"
            groups.append([(i, kind, full_row(i, kind))])
        touched = {g[0][0] for g in groups}
        # new keys
        for _ in range(n // 3):
            i = new_index()
            groups.append([(i, "+I", full_row(i, "+I"))])
            revive(i)
            touched.add(i)
        if case.rowkind:
            candidates = [i for i in live if i not in touched and ok(i)]
            for i in rng.sample(candidates, min(len(candidates), n // 6)):
                kind = rng.choice(["-D", "-D", "-U"])
                groups.append([(i, kind, full_row(i, kind))])
                kill(i)
                touched.add(i)
            # re-insert some previously deleted keys
            revivable = [d for d in dead if d not in touched and ok(d)]
            for i in rng.sample(revivable, min(len(revivable), n // 12)):
                groups.append([(i, "+I", full_row(i, "+I"))])
                revive(i)
                touched.add(i)
            # delete of a key that never existed
            i = new_index()
            groups.append([(i, "-D", full_row(i, "-D"))])
            # several kinds for the same key within one commit
            candidates = [i for i in live if i not in touched and ok(i)]
            if len(candidates) >= 3:
                a, b, d = rng.sample(candidates, 3)
                groups.append([(a, "+U", full_row(a, "+U")), (a, "+U", full_row(a, "+U"))])
                groups.append([(b, "+U", full_row(b, "+U")), (b, "-D", full_row(b, "-D"))])
                kill(b)
                groups.append([(d, "-D", full_row(d, "-D")), (d, "+I", full_row(d, "+I"))])
            i = new_index()
            groups.append([(i, "+I", full_row(i, "+I")), (i, "-U", full_row(i, "-U"))])
            dead.append(i)
        else:
            # same key upserted twice within one commit
            candidates = [i for i in live if i not in touched and ok(i)]
            for i in rng.sample(candidates, min(len(candidates), 3)):
                groups.append([(i, "+I", full_row(i, "+I")), (i, "+I", full_row(i, "+I"))])
        rng.shuffle(groups)
        commits.append([op for g in groups for op in g])
    return commits


def _key_tuple(case, row):
    return tuple(row[k] for k in case.primary_keys)


def model_states(case, commits):
    """The table contents (list of rows) after each commit."""
    state = {}
    out = []
    for ops in commits:
        for _, kind, row in ops:
            key = _key_tuple(case, row)
            if kind in ("+I", "+U"):
                state[key] = row
            else:
                state.pop(key, None)
        out.append(list(state.values()))
    return out


# ==========================================================================
# pypaimon
# ==========================================================================


def _assign_ids(fields):
    """Paimon field JSON with ids: top-level 0..n-1, nested fields after."""
    counter = [len(fields) - 1]

    def walk(t):
        if not isinstance(t, dict):
            return t
        t = dict(t)
        kind = canonical.type_kind(t)
        if kind in ("ARRAY", "MULTISET"):
            t["element"] = walk(t["element"])
        elif kind == "MAP":
            t["key"] = walk(t["key"])
            t["value"] = walk(t["value"])
        elif kind == "ROW":
            new = []
            for f in t["fields"]:
                counter[0] += 1
                new.append({"id": counter[0], "name": f["name"], "type": walk(f["type"])})
            t["fields"] = new
        return t

    return [{"id": i, "name": name, "type": walk(t)} for i, (name, t) in enumerate(fields)]


def _create_table(catalog, case):
    from pypaimon.schema.data_types import DataTypeParser
    from pypaimon.schema.schema import Schema

    fields = [DataTypeParser.parse_data_field(f) for f in _assign_ids(case.fields)]
    schema = Schema(fields, case.partition_keys, case.primary_keys, case.options)
    catalog.create_table(case.table, schema, False)
    return catalog.get_table(case.table)


def _arrow_table(table, rows):
    import pyarrow as pa
    from pypaimon.schema.data_types import PyarrowFieldParser

    schema = PyarrowFieldParser.from_paimon_schema(table.table_schema.fields)
    return pa.Table.from_pylist(rows, schema=schema)


def _write_commit(table, rows, pieces):
    wb = table.new_batch_write_builder()
    tw = wb.new_write()
    tc = wb.new_commit()
    try:
        step = max(1, (len(rows) + pieces - 1) // pieces)
        for start in range(0, len(rows), step):
            tw.write_arrow(_arrow_table(table, rows[start:start + step]))
        tc.commit(tw.prepare_commit())
    finally:
        tw.close()
        tc.close()


def read_snapshot(table, snapshot_id):
    """pypaimon's read of one snapshot (time travel via scan.snapshot-id)."""
    tt = table.copy({"scan.snapshot-id": str(snapshot_id)})
    rb = tt.new_read_builder()
    splits = rb.new_scan().plan().splits()
    result = rb.new_read().to_arrow(splits)
    if result is None:
        return _arrow_table(table, [])
    return result


_NANOS = re.compile(r'(T\d\d:\d\d:\d\d)\.(\d{9})(Z?")')


def _truncate_nanos(line):
    """Canonical timestamp text truncated (floored) to microseconds."""

    def fix(m):
        frac = m.group(2)[:6]
        if frac == "000000":
            frac = ""
        elif frac.endswith("000"):
            frac = "." + frac[:3]
        else:
            frac = "." + frac
        return m.group(1) + frac + m.group(3)

    return _NANOS.sub(fix, line)


def _diff(a, b, limit=5):
    ca, cb = {}, {}
    for x in a:
        ca[x] = ca.get(x, 0) + 1
    for x in b:
        cb[x] = cb.get(x, 0) + 1
    only_a = [x for x in ca for _ in range(ca[x] - cb.get(x, 0))]
    only_b = [x for x in cb for _ in range(cb[x] - ca.get(x, 0))]
    return only_a[:limit], only_b[:limit], len(only_a), len(only_b)


def generate_case(catalog, warehouse, out_dir, case, log=print):
    t0 = time.time()
    try:
        catalog.drop_table(case.table, True)
    except Exception:  # noqa: BLE001
        pass
    shutil.rmtree(os.path.join(warehouse, DATABASE + ".db", case.name), ignore_errors=True)
    table = _create_table(catalog, case)

    commits = plan_commits(case)
    states = model_states(case, commits)
    for ops in commits:
        _write_commit(table, [row for _, _, row in ops], case.writes_per_commit)

    table = catalog.get_table(case.table)
    latest = table.snapshot_manager().get_latest_snapshot()
    if latest is None or latest.id != case.snapshots:
        raise RuntimeError("%s: expected %d snapshots, pypaimon made %s"
                           % (case.name, case.snapshots, None if latest is None else latest.id))

    case_out = os.path.join(out_dir, case.name)
    shutil.rmtree(case_out, ignore_errors=True)
    os.makedirs(case_out)
    rows_per_snapshot = []
    deviations = {}
    for k in range(1, case.snapshots + 1):
        got = sorted(canonical.render_arrow_table(read_snapshot(table, k)))
        want = sorted(canonical.render_arrow_table(_arrow_table(table, states[k - 1])))
        expected = got
        if got != want:
            # pypaimon's merging read path (used when a bucket has more than one
            # data file) turns rows into Python objects through polars, which
            # truncates TIMESTAMP(7..9) values to microseconds. The data files
            # hold the exact nanoseconds (and pypaimon's read of a
            # single-file bucket returns them), so when that is the only
            # difference the exact model rows are the expected result.
            lenient_got = sorted(_truncate_nanos(line) for line in got)
            lenient_want = sorted(_truncate_nanos(line) for line in want)
            if lenient_got != lenient_want:
                only_got, only_want, n_got, n_want = _diff(got, want)
                raise RuntimeError(
                    "%s snapshot %d: pypaimon's read differs from the model: %d rows only in "
                    "pypaimon's read, e.g. %s; %d rows only in the model, e.g. %s"
                    % (case.name, k, n_got, only_got, n_want, only_want))
            n_rows = len(set(got) ^ set(want)) // 2
            deviations[str(k)] = ("pypaimon's read truncated nanoseconds to microseconds in %d rows; "
                                  "expected rows keep the exact nanoseconds" % n_rows)
            expected = want
        with open(os.path.join(case_out, "snapshot-%d.jsonl" % k), "w", encoding="utf-8") as f:
            for line in expected:
                f.write(line + "\n")
        rows_per_snapshot.append(len(expected))

    schema_path = os.path.join(warehouse, DATABASE + ".db", case.name, "schema", "schema-0")
    with open(schema_path, encoding="utf-8") as f:
        schema_json = json.load(f)
    fields = [{"id": fld["id"], "name": fld["name"], "type": fld["type"],
               "sql": canonical.type_sql(fld["type"])} for fld in schema_json["fields"]]
    meta = {
        "case": case.name,
        "description": case.description,
        "database": DATABASE,
        "table": case.name,
        "identifier": case.table,
        "table_path": os.path.join(DATABASE + ".db", case.name),
        "fields": fields,
        "primary_keys": schema_json["primaryKeys"],
        "partition_keys": schema_json["partitionKeys"],
        "bucket": int(schema_json["options"].get("bucket", "-1")),
        "options": schema_json["options"],
        "snapshots": case.snapshots,
        "rows_per_snapshot": rows_per_snapshot,
        "ops_per_commit": [len(ops) for ops in commits],
        "writer": "pypaimon 2.1.0",
        "pypaimon_read_deviations": deviations,
    }
    with open(os.path.join(case_out, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2, ensure_ascii=False)
        f.write("\n")
    log("  %-16s %d snapshots, rows %s, %.1fs" % (case.name, case.snapshots, rows_per_snapshot,
                                                  time.time() - t0))
    return meta


def make_catalog(warehouse):
    from pypaimon.catalog.catalog_factory import CatalogFactory

    os.makedirs(warehouse, exist_ok=True)
    catalog = CatalogFactory.create({"warehouse": os.path.abspath(warehouse)})
    catalog.create_database(DATABASE, True)
    return catalog


def generate(warehouse, out_dir, cases=None, log=print):
    """Generate the named cases (default: all). Returns {case: meta}."""
    names = list(cases) if cases else case_names()
    unknown = [n for n in names if n not in CASES_BY_NAME]
    if unknown:
        raise ValueError("unknown case(s) %s; known: %s" % (unknown, case_names()))
    warehouse = os.path.abspath(warehouse)
    os.makedirs(out_dir, exist_ok=True)
    catalog = make_catalog(warehouse)
    metas = {}
    for name in names:
        metas[name] = generate_case(catalog, warehouse, out_dir, CASES_BY_NAME[name], log=log)
    index_path = os.path.join(out_dir, "cases.json")
    index = {}
    if os.path.exists(index_path):
        with open(index_path, encoding="utf-8") as f:
            index = json.load(f)
    index.update({n: {"identifier": m["identifier"], "snapshots": m["snapshots"]} for n, m in metas.items()})
    with open(index_path, "w", encoding="utf-8") as f:
        json.dump(index, f, indent=2, sort_keys=True)
        f.write("\n")
    return metas


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--warehouse", help="warehouse directory (filesystem catalog)")
    ap.add_argument("--out", help="directory for <case>/snapshot-<k>.jsonl and meta.json")
    ap.add_argument("--case", nargs="+", action="extend", default=[], metavar="NAME",
                    help="generate only these cases (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    args = ap.parse_args(argv)
    if args.list:
        for c in CASES:
            print("%-16s %d snapshots  %s" % (c.name, c.snapshots, c.description))
        return 0
    if not args.warehouse or not args.out:
        ap.error("--warehouse and --out are required")
    t0 = time.time()
    print("generating into warehouse %s, expected files in %s" % (args.warehouse, args.out))
    generate(args.warehouse, args.out, args.case or None)
    print("done in %.1fs" % (time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
