"""Paimon readers read the merge-engine tables Strata writes.

1. The pypaimon-written cases of ``merge_gen.py`` (partial-update, aggregation), written
   again row for row with ``strata write``: pypaimon's and the ``paimon`` crate's
   (pypaimon-rust 0.4.0) reads of every snapshot of Strata's table equal ``strata read``,
   which equals pypaimon's read of its own table (one pypaimon writer deviation aside,
   see below).
2. What pypaimon cannot write or read (sequence groups, retractions into aggregation,
   partial-update deletes, first-row, dedupe with a sequence field): random CDC
   (Debezium JSON: inserts, updates as -U/+U, deletes) written with ``strata write`` in
   several commits; the ``paimon`` crate's read of every snapshot equals ``strata read``,
   and so does pypaimon's where it reads the table (first-row, dedupe with a sequence
   field, with or without deletion vectors). The same with deletion vectors (every engine that allows them), whose tables, like
   first-row ones, the writer compacts after each commit (their reads skip level 0).
   The two implementations are independent, so agreement on random input is evidence
   for both; each case also checks a property the engine must have.
"""

import json
import os
import random
from decimal import Decimal

import pyarrow as pa
import pytest

import canonical
import merge_gen
import paimon_gen
from test_merge_engines import merge_tables  # noqa: F401  (module fixture)
from test_paimon_read import _parse_output, compare_rows
from test_strata_written import strata


def _meta(fields, options):
    return {"fields": [{"name": f["name"], "type": f["type"]} for f in fields],
            "primary_keys": ["k"], "options": options}


def _create(strata_bin, warehouse, tmp_path, name, fields, options):
    schema = {"fields": [{"name": f["name"], "type": f["type"]} for f in fields],
              "primaryKeys": ["k"], "partitionKeys": [], "options": options}
    path = tmp_path / ("%s.schema.json" % name)
    path.write_text(json.dumps(schema, ensure_ascii=False), encoding="utf-8")
    strata(strata_bin, warehouse, "db", "create", paimon_gen.DATABASE, "--if-not-exists")
    strata(strata_bin, warehouse, "table", "create", "%s.%s" % (paimon_gen.DATABASE, name),
           "--schema", str(path))


def _arrow_schema(fields):
    from pypaimon.schema.data_types import DataTypeParser, PyarrowFieldParser

    return PyarrowFieldParser.from_paimon_schema(
        [DataTypeParser.parse_data_field(f) for f in fields])


def _lines(fields, rows):
    """Rows as canonical JSON objects (what ``strata write`` reads as JSONL)."""
    table = pa.Table.from_pylist(rows, schema=_arrow_schema(fields))
    return [json.loads(line) for line in canonical.render_arrow_table(table)]


def _write(strata_bin, warehouse, path, table, lines, fmt):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    return strata(strata_bin, warehouse, "write", table, "--input", str(path), "--format", fmt)


def _strata_read(strata_bin, warehouse, table, snapshot):
    what = "strata read %s --snapshot %d" % (table, snapshot)
    out = strata(strata_bin, warehouse, "read", table, "--snapshot", str(snapshot),
                 "--output-format", "jsonl")
    return _parse_output(out, what)


def _paimon_crate_read(warehouse, table, snapshot):
    from pypaimon_rust.datafusion import PaimonCatalog

    t = PaimonCatalog({"warehouse": str(warehouse)}).get_table(table)
    builder = t.new_read_builder({"scan.snapshot-id": str(snapshot)})
    batches = builder.new_read().read(builder.new_scan().plan().splits())
    return sorted(canonical.render_arrow_table(pa.Table.from_batches(batches))) if batches else []


def _pypaimon_read(warehouse, table, snapshot):
    catalog = paimon_gen.make_catalog(str(warehouse))
    return sorted(canonical.render_arrow_table(
        paimon_gen.read_snapshot(catalog.get_table(table), snapshot)))


# ---------------------------------------------------------------- 1. pypaimon's cases

PARAMS = [pytest.param(c, id=c) for c in merge_gen.case_names()]


@pytest.mark.parametrize("case_name", PARAMS)
def test_readers_read_strata_written_merge_tables(strata_bin, merge_tables, tmp_path,  # noqa: F811
                                                   case_name):
    _, out = merge_tables
    case = merge_gen.CASES_BY_NAME[case_name]
    fields = paimon_gen._assign_ids(case["fields"])
    warehouse = tmp_path / "warehouse"
    table = "%s.%s" % (paimon_gen.DATABASE, case_name)
    _create(strata_bin, warehouse, tmp_path, case_name, fields, case["options"])
    for k, rows in enumerate(merge_gen.commit_rows(case), 1):
        _write(strata_bin, warehouse, tmp_path / ("c%d.jsonl" % k), table, _lines(fields, rows),
               "jsonl")
    with open(os.path.join(out, case_name, "meta.json"), encoding="utf-8") as f:
        meta = json.load(f)
    blank_listagg = [f["name"] for f in meta["fields"]
                     if meta["options"].get("fields.%s.aggregate-function" % f["name"]) == "listagg"]
    for k in range(1, merge_gen.SNAPSHOTS + 1):
        with open(os.path.join(out, case_name, "snapshot-%d.jsonl" % k), encoding="utf-8") as f:
            expected = [line for line in f.read().split("\n") if line.strip()]
        assert expected
        ours = _strata_read(strata_bin, warehouse, table, k)
        ours_lines = [line for line, _ in ours]
        # Every reader of Strata's table sees exactly the same rows.
        for reader, got in (("pypaimon", _pypaimon_read(warehouse, table, k)),
                            ("the paimon crate", _paimon_crate_read(warehouse, table, k))):
            compare_rows(meta, ours_lines, [(x, canonical.parse_json_line(x)) for x in got],
                         "%s reading Strata's %s at snapshot %d (vs strata read)"
                         % (reader, table, k))
        # And they equal pypaimon's read of its own table, but for one pypaimon writer
        # deviation: it aggregates a key's lone version from a null accumulator, so a
        # lone blank listagg value becomes null, where Java passes one version through
        # unchanged (as Strata does). Only that difference is forgiven.
        compare_rows(meta, _blank_to_null(expected, blank_listagg),
                     [(x, canonical.parse_json_line(x))
                      for x in _blank_to_null(ours_lines, blank_listagg)],
                     "strata read of Strata's %s vs pypaimon's own table, snapshot %d"
                     % (table, k))


def _blank_to_null(lines, columns):
    if not columns:
        return lines
    out = []
    for line in lines:
        row = json.loads(line)
        for c in columns:
            if isinstance(row.get(c), str) and not row[c].strip():
                row[c] = None
        out.append(json.dumps(row, ensure_ascii=False))
    return out


# ---------------------------------------------------------------- 2. beyond pypaimon

def _f(name, type_):
    return (name, type_)


CDC_CASES = {
    # Sequence groups: (a, b) ordered by g1, (c, s) by g2 with a sum inside the group.
    "cdc_partial_groups": {
        "fields": [_f("k", "INT NOT NULL"), _f("a", "STRING"), _f("b", "INT"), _f("g1", "INT"),
                   _f("c", "STRING"), _f("s", "BIGINT"), _f("g2", "INT")],
        "options": {"merge-engine": "partial-update", "bucket": "2",
                    "fields.g1.sequence-group": "a,b", "fields.g2.sequence-group": "c,s",
                    "fields.s.aggregate-function": "sum"},
        "row": lambda rng, k, i: {
            "k": k, "a": rng.choice([None, "x", "y", "z"]), "b": rng.choice([None, 1, 2, 3]),
            "g1": rng.choice([None, 1, 2, 3, 4, 5]), "c": rng.choice([None, "p", "q"]),
            "s": rng.choice([None, 1, 10, 100]), "g2": rng.choice([None, 1, 2, 3, 4, 5])},
        "deletes": True,
    },
    "cdc_partial_remove_on_delete": {
        "fields": [_f("k", "INT NOT NULL"), _f("a", "STRING"), _f("b", "BIGINT")],
        "options": {"merge-engine": "partial-update", "bucket": "1",
                    "partial-update.remove-record-on-delete": "true"},
        "row": lambda rng, k, i: {"k": k, "a": rng.choice([None, "x", "y"]),
                               "b": rng.choice([None, 5, 7])},
        "deletes": True,
    },
    # Retractions into aggregation: the functions that can take them.
    "cdc_agg_retract": {
        "fields": [_f("k", "INT NOT NULL"), _f("s", "BIGINT"), _f("d", "DECIMAL(12, 2)"),
                   _f("lv", "STRING"), _f("mx", "INT"),
                   _f("co", {"type": "ARRAY", "element": "INT"})],
        "options": {"merge-engine": "aggregation", "bucket": "2",
                    "fields.s.aggregate-function": "sum", "fields.d.aggregate-function": "sum",
                    "fields.lv.aggregate-function": "last_value",
                    "fields.mx.aggregate-function": "max", "fields.mx.ignore-retract": "true",
                    "fields.co.aggregate-function": "collect"},
        "row": lambda rng, k, i: {
            "k": k, "s": rng.choice([None, rng.randint(-100, 100)]),
            "d": rng.choice([None, Decimal(rng.randint(-9999, 9999)) / 100]),
            "lv": rng.choice([None, "a", "b"]), "mx": rng.randint(0, 50),
            "co": rng.choice([None, [rng.randint(0, 3)]])},
        "deletes": True,
    },
    "cdc_agg_remove_on_delete": {
        "fields": [_f("k", "INT NOT NULL"), _f("s", "BIGINT")],
        "options": {"merge-engine": "aggregation", "bucket": "1",
                    "fields.s.aggregate-function": "sum",
                    "aggregation.remove-record-on-delete": "true"},
        "row": lambda rng, k, i: {"k": k, "s": rng.randint(1, 9)},
        "deletes": True,
    },
    "cdc_first_row": {
        "fields": [_f("k", "INT NOT NULL"), _f("v", "STRING")],
        "options": {"merge-engine": "first-row", "bucket": "2", "ignore-delete": "true"},
        "row": lambda rng, k, i: {"k": k, "v": "v%d" % rng.randint(0, 999)},
        "deletes": True,
    },
    "cdc_dedupe_sequence_field": {
        "fields": [_f("k", "INT NOT NULL"), _f("ts", "BIGINT"), _f("v", "STRING")],
        "options": {"bucket": "2", "sequence.field": "ts"},
        # Mostly increasing with late arrivals, as event times are.
        "row": lambda rng, k, i: {"k": k, "ts": i - rng.choice([0, 0, 0, 5]),
                                  "v": "v%d" % rng.randint(0, 99)},
        "deletes": True,
    },
}
# Deletion vectors with every engine that allows them: writers compact level 0 up after
# each commit, marking superseded rows in vectors that the paimon crate applies.
for _name in ("cdc_partial_remove_on_delete", "cdc_agg_retract", "cdc_dedupe_sequence_field"):
    _dv = dict(CDC_CASES[_name])
    _dv["options"] = dict(_dv["options"], **{"deletion-vectors.enabled": "true"})
    CDC_CASES[_name.replace("cdc_", "cdc_dv_")] = _dv
CDC_CASES["cdc_dv_dedupe"] = dict(CDC_CASES["cdc_dv_dedupe_sequence_field"], options={
    "bucket": "2", "deletion-vectors.enabled": "true"})
COMMITS = 4
# The cases pypaimon reads too (it refuses the other engines' options). It hides level 0
# of first-row and deletion-vector tables, which the writer compacts up after each commit.
PYPAIMON_READS = {"cdc_first_row", "cdc_dedupe_sequence_field", "cdc_dv_dedupe",
                  "cdc_dv_dedupe_sequence_field"}


def _latest_snapshot(warehouse, name):
    path = warehouse / ("%s.db" % paimon_gen.DATABASE) / name / "snapshot" / "LATEST"
    return int(path.read_text().strip())


def _cdc_commits(name, case):
    """Debezium events per commit: inserts of new keys, updates (before = the row the
    source last emitted for the key), deletes. Keys repeat within and across commits."""
    rng = random.Random(name)
    current = {}
    commits = []
    i = 0
    for _ in range(COMMITS):
        events = []
        for _ in range(rng.randint(15, 40)):
            i += 1
            k = rng.randrange(10)
            after = case["row"](rng, k, i)
            if k not in current:
                events.append(("c", None, after))
                current[k] = after
            elif case["deletes"] and rng.random() < 0.2:
                events.append(("d", current.pop(k), None))
            else:
                events.append(("u", current[k], after))
                current[k] = after
        commits.append(events)
    return commits


def _debezium_lines(fields, events):
    rows = [r for _, before, after in events for r in (before, after) if r is not None]
    rendered = iter(_lines(fields, rows))
    out = []
    for op, before, after in events:
        line = {"op": op}
        if before is not None:
            line["before"] = next(rendered)
        if after is not None:
            line["after"] = next(rendered)
        out.append(line)
    return out


@pytest.mark.parametrize("name", sorted(CDC_CASES))
def test_paimon_crate_reads_strata_cdc_tables(strata_bin, tmp_path, name):
    case = CDC_CASES[name]
    fields = paimon_gen._assign_ids(case["fields"])
    warehouse = tmp_path / "warehouse"
    table = "%s.%s" % (paimon_gen.DATABASE, name)
    _create(strata_bin, warehouse, tmp_path, name, fields, case["options"])
    meta = _meta(fields, case["options"])
    commits = _cdc_commits(name, case)
    nonempty = 0
    for k, events in enumerate(commits, 1):
        _write(strata_bin, warehouse, tmp_path / ("c%d.json" % k), table,
               _debezium_lines(fields, events), "debezium-json")
        # first-row and deletion-vector tables are compacted by the writer after each
        # commit (their reads skip level 0): the latest snapshot is that compaction.
        snapshot = _latest_snapshot(warehouse, name)
        ours = _strata_read(strata_bin, warehouse, table, snapshot)
        theirs = _paimon_crate_read(warehouse, table, snapshot)
        compare_rows(meta, theirs, ours,
                     "strata read vs the paimon crate, %s snapshot %d" % (table, snapshot))
        if name in PYPAIMON_READS:
            compare_rows(meta, _pypaimon_read(warehouse, table, snapshot), ours,
                         "strata read vs pypaimon, %s snapshot %d" % (table, snapshot))
        nonempty += bool(ours)
    assert nonempty == COMMITS, "every snapshot should hold rows"
    if name == "cdc_first_row":
        # The first insert of each key wins for good: later updates never show.
        firsts = {}
        for events in commits:
            for op, _, after in events:
                if op == "c":
                    firsts.setdefault(after["k"], after["v"])
        final = [row for _, row in
                 _strata_read(strata_bin, warehouse, table, _latest_snapshot(warehouse, name))]
        assert sorted(r["k"] for r in final) == sorted(firsts), "every inserted key is there"
        assert {r["k"]: r["v"] for r in final} == {k: firsts[k] for k in (r["k"] for r in final)}
    if name == "cdc_agg_remove_on_delete":
        # A key whose last event was a delete is gone; the others hold their running sum.
        alive = {}
        for events in commits:
            for op, before, after in events:
                if op == "d":
                    alive.pop(before["k"], None)
                else:
                    alive[after["k"]] = True
        final = [row for _, row in
                 _strata_read(strata_bin, warehouse, table, _latest_snapshot(warehouse, name))]
        assert sorted(r["k"] for r in final) == sorted(alive)
