#!/usr/bin/env python3
"""Write merge-engine tables with pypaimon 2.1.0 and dump its reads as canonical JSONL.

Library use::

    import merge_gen
    metas = merge_gen.generate(warehouse_dir, out_dir)

CLI use::

    python merge_gen.py --warehouse DIR --out DIR [--case NAME ...] [--list]

Each case is a primary-key table (``conf.<case>``) with a non-default merge engine,
written in several commits of random rows over a few keys: the same key appears many
times per commit (pypaimon merges those in its write buffer) and in every commit
(readers merge across files). ``<out>/<case>/snapshot-<k>.jsonl`` is pypaimon's read of
snapshot k, rendered canonically (``canonical.py``), lines sorted; ``meta.json`` holds
the fields, keys and options.

Only what pypaimon 2.1.0 implements is covered: partial-update without sequence groups
or delete options, and aggregation without retractions (its writer rejects -U/-D there).
Not first-row: Paimon's batch scan of a first-row table skips level-0 files
(``batchScanSkipLevel0``), so pypaimon's uncompacted tables read as empty there, which
is scan planning rather than merging. Deterministic for a given case (seeded
``random.Random``).
"""

import argparse
import json
import os
import random
import shutil
import sys
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import canonical  # noqa: E402
import paimon_gen  # noqa: E402

DATABASE = paimon_gen.DATABASE


def _maybe(rng, value, null_share=0.25):
    return None if rng.random() < null_share else value


def _pu_row(rng, k):
    return {
        "k": k,
        "a": _maybe(rng, rng.randint(-1000, 1000), 0.5),
        "b": _maybe(rng, rng.choice(["x", "y", "日本", "", "z z"]), 0.5),
        "c": _maybe(rng, rng.choice([0.5, -2.25, 1e10]), 0.6),
        "d": _maybe(rng, Decimal(rng.randint(-99999, 99999)) / 100, 0.6),
    }


def _agg_row(rng, k):
    return {
        "k": k,
        "s": _maybe(rng, rng.randint(-10 ** 12, 10 ** 12)),
        "sd": _maybe(rng, Decimal(rng.randint(-10 ** 6, 10 ** 6)) / 100),
        "p": _maybe(rng, rng.choice([1, 2, 3, -1])),
        "mx": _maybe(rng, rng.choice(["apple", "banana", "cherry", "Äpfel", ""])),
        "mn": _maybe(rng, rng.randint(-50, 50)),
        "lv": _maybe(rng, rng.randint(0, 9)),
        "lnn": _maybe(rng, rng.randint(0, 9)),
        "fv": _maybe(rng, rng.randint(0, 9)),
        "fnn": _maybe(rng, rng.randint(0, 9)),
        "ba": _maybe(rng, rng.random() < 0.8),
        "bo": _maybe(rng, rng.random() < 0.2),
        "la": _maybe(rng, rng.choice(["a", "b", "c d", ""])),
        "co": _maybe(rng, [rng.randint(0, 3) for _ in range(rng.randint(0, 3))]),
    }


CASES = [
    {
        "name": "merge_partial_b2",
        "fields": [("k", "INT NOT NULL"), ("a", "BIGINT"), ("b", "STRING"), ("c", "DOUBLE"),
                   ("d", "DECIMAL(9, 2)")],
        "options": {"merge-engine": "partial-update", "bucket": "2"},
        "row": _pu_row,
    },
    {
        "name": "merge_agg_b2",
        "fields": [("k", "INT NOT NULL"), ("s", "BIGINT"), ("sd", "DECIMAL(20, 2)"), ("p", "INT"),
                   ("mx", "STRING"), ("mn", "INT"), ("lv", "INT"), ("lnn", "INT"), ("fv", "INT"),
                   ("fnn", "INT"), ("ba", "BOOLEAN"), ("bo", "BOOLEAN"), ("la", "STRING"),
                   ("co", {"type": "ARRAY", "element": "INT"})],
        "options": {
            "merge-engine": "aggregation", "bucket": "2",
            "fields.s.aggregate-function": "sum",
            "fields.sd.aggregate-function": "sum",
            "fields.p.aggregate-function": "product",
            "fields.mx.aggregate-function": "max",
            "fields.mn.aggregate-function": "min",
            "fields.lv.aggregate-function": "last_value",
            "fields.fv.aggregate-function": "first_value",
            "fields.fnn.aggregate-function": "first_non_null_value",
            "fields.ba.aggregate-function": "bool_and",
            "fields.bo.aggregate-function": "bool_or",
            "fields.la.aggregate-function": "listagg",
            "fields.la.list-agg-delimiter": "|",
            "fields.co.aggregate-function": "collect",
        },
        "row": _agg_row,
    },
    {
        "name": "merge_agg_default_b1",
        "fields": [("k", "INT NOT NULL"), ("s", "BIGINT"), ("mn", "INT"), ("lnn", "INT")],
        "options": {"merge-engine": "aggregation", "bucket": "1",
                    "fields.default-aggregate-function": "sum",
                    "fields.mn.aggregate-function": "min"},
        "row": lambda rng, k: {"k": k, "s": _maybe(rng, rng.randint(0, 9)),
                               "mn": _maybe(rng, rng.randint(0, 9)),
                               "lnn": _maybe(rng, rng.randint(0, 9))},
    },
]
CASES_BY_NAME = {c["name"]: c for c in CASES}
SNAPSHOTS = 4
KEYS = 12


def case_names():
    return [c["name"] for c in CASES]


def commit_rows(case):
    """The rows of each commit of a case, in write order (deterministic per case)."""
    rng = random.Random(case["name"])
    return [[case["row"](rng, rng.randrange(KEYS)) for _ in range(rng.randint(10, 30))]
            for _ in range(SNAPSHOTS)]


def _create(catalog, case):
    from pypaimon.schema.data_types import DataTypeParser
    from pypaimon.schema.schema import Schema

    fields = [DataTypeParser.parse_data_field(f) for f in paimon_gen._assign_ids(case["fields"])]
    identifier = "%s.%s" % (DATABASE, case["name"])
    catalog.create_table(identifier, Schema(fields, [], ["k"], dict(case["options"])), False)
    return catalog.get_table(identifier)


def generate_case(catalog, warehouse, out_dir, case, log=print):
    identifier = "%s.%s" % (DATABASE, case["name"])
    try:
        catalog.drop_table(identifier, True)
    except Exception:  # noqa: BLE001
        pass
    shutil.rmtree(os.path.join(warehouse, DATABASE + ".db", case["name"]), ignore_errors=True)
    table = _create(catalog, case)
    for rows in commit_rows(case):
        # Two writes per commit: two level-0 files per bucket to merge.
        half = len(rows) // 2
        wb = table.new_batch_write_builder()
        tw, tc = wb.new_write(), wb.new_commit()
        try:
            tw.write_arrow(paimon_gen._arrow_table(table, rows[:half]))
            tw.write_arrow(paimon_gen._arrow_table(table, rows[half:]))
            tc.commit(tw.prepare_commit())
        finally:
            tw.close()
            tc.close()
    table = catalog.get_table(identifier)
    snapshots = table.snapshot_manager().get_latest_snapshot().id
    case_out = os.path.join(out_dir, case["name"])
    shutil.rmtree(case_out, ignore_errors=True)
    os.makedirs(case_out)
    rows_per_snapshot = []
    for k in range(1, snapshots + 1):
        got = sorted(canonical.render_arrow_table(paimon_gen.read_snapshot(table, k)))
        with open(os.path.join(case_out, "snapshot-%d.jsonl" % k), "w", encoding="utf-8") as f:
            for line in got:
                f.write(line + "\n")
        rows_per_snapshot.append(len(got))
    with open(os.path.join(warehouse, DATABASE + ".db", case["name"], "schema", "schema-0"),
              encoding="utf-8") as f:
        schema_json = json.load(f)
    meta = {
        "case": case["name"],
        "identifier": identifier,
        "fields": [{"id": f["id"], "name": f["name"], "type": f["type"]}
                   for f in schema_json["fields"]],
        "primary_keys": schema_json["primaryKeys"],
        "options": schema_json["options"],
        "snapshots": snapshots,
        "rows_per_snapshot": rows_per_snapshot,
        "writer": "pypaimon 2.1.0",
    }
    with open(os.path.join(case_out, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2, ensure_ascii=False)
        f.write("\n")
    log("  %-22s %d snapshots, rows %s" % (case["name"], snapshots, rows_per_snapshot))
    return meta


def generate(warehouse, out_dir, cases=None, log=print):
    names = list(cases) if cases else case_names()
    catalog = paimon_gen.make_catalog(warehouse)
    os.makedirs(out_dir, exist_ok=True)
    return {n: generate_case(catalog, warehouse, out_dir, CASES_BY_NAME[n], log) for n in names}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--warehouse")
    p.add_argument("--out")
    p.add_argument("--case", action="append")
    p.add_argument("--list", action="store_true")
    args = p.parse_args(argv)
    if args.list:
        print("\n".join(case_names()))
        return 0
    if not args.warehouse or not args.out:
        p.error("--warehouse and --out are required")
    generate(args.warehouse, args.out, args.case)
    return 0


if __name__ == "__main__":
    sys.exit(main())
