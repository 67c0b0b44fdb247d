"""`strata sql` through the CLI.

- Queries (filters, aggregates, joins) equal the same queries computed here in Python over
  the rows `strata read` prints.
- Every system table returns what `strata table show --json` and the files on disk say:
  `$files` lists exactly the data files on disk, `$snapshots` and `$schemas` the snapshot
  and schema files, `$tags` and `$consumers` their files, `$partitions` / `$buckets` the
  per-bucket totals of `table show --json`; `$audit_log` is the read plus deleted keys.
"""

import json
import os
from collections import defaultdict
from decimal import Decimal

from conftest import run_strata
from test_paimon_read import _short

SCHEMA = {
    "fields": [
        {"name": "p", "type": "STRING"},
        {"name": "k", "type": "BIGINT"},
        {"name": "v", "type": "INT"},
        {"name": "amount", "type": "DECIMAL(10, 2)"},
        {"name": "s", "type": "STRING"},
    ],
    "primaryKeys": ["p", "k"],
    "partitionKeys": ["p"],
    "options": {"bucket": "2"},
}
PARTS = ["north", "south", "east"]


def strata(strata_bin, warehouse, *args):
    proc = run_strata(strata_bin, ["--warehouse", str(warehouse)] + list(args))
    assert proc.returncode == 0 and "panicked" not in proc.stderr, \
        "strata %s: %s" % (" ".join(args), _short(proc.stderr, 3000))
    return proc.stdout


def sql(strata_bin, warehouse, query):
    out = strata(strata_bin, warehouse, "sql", query, "--output-format", "jsonl")
    return [json.loads(line, parse_float=Decimal) for line in out.splitlines() if line.strip()]


def read(strata_bin, warehouse, table):
    out = strata(strata_bin, warehouse, "read", table, "--output-format", "jsonl")
    return [json.loads(line, parse_float=Decimal) for line in out.splitlines() if line.strip()]


def write_lines(strata_bin, warehouse, table, path, lines, *extra):
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return strata(strata_bin, warehouse, "write", table, "--input", str(path), *extra)


def make_tables(strata_bin, tmp_path, warehouse=None):
    warehouse = warehouse or tmp_path / "warehouse"
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(SCHEMA))
    strata(strata_bin, warehouse, "db", "create", "db")
    strata(strata_bin, warehouse, "table", "create", "db.orders", "--schema", str(schema))

    def row(i, version):
        return {"p": PARTS[i % 3], "k": i, "v": (i * 13 + version) % 97,
                "amount": "%d.%02d" % (i * 3 + version, (i * 7) % 100), "s": "s%d" % (i % 4)}

    write_lines(strata_bin, warehouse, "db.orders", tmp_path / "c1.jsonl",
                [row(i, 0) for i in range(80)])
    write_lines(strata_bin, warehouse, "db.orders", tmp_path / "c2.jsonl",
                [row(i, 1) for i in range(0, 100, 3)])
    # Deletes through Debezium events.
    events = [{"payload": {"op": "d", "before": row(i, 1 if i % 3 == 0 else 0), "after": None,
                           "source": {"db": "x"}, "ts_ms": 0}} for i in range(0, 80, 10)]
    write_lines(strata_bin, warehouse, "db.orders", tmp_path / "c3.json", events,
                "--format", "debezium-json")
    regions = tmp_path / "regions.json"
    regions.write_text(json.dumps({"fields": [{"name": "p", "type": "STRING"},
                                              {"name": "label", "type": "STRING"}],
                                   "primaryKeys": ["p"]}))
    strata(strata_bin, warehouse, "table", "create", "db.regions", "--schema", str(regions))
    write_lines(strata_bin, warehouse, "db.regions", tmp_path / "r.jsonl",
                [{"p": "north", "label": "N"}, {"p": "south", "label": "S"}])
    return warehouse


def test_sql_equals_queries_over_strata_read(strata_bin, tmp_path):
    check_sql_equals_read(strata_bin, make_tables(strata_bin, tmp_path))


def check_sql_equals_read(strata_bin, warehouse):
    """Filters, aggregates and a join in SQL equal the same over `strata read`'s rows."""
    rows = read(strata_bin, warehouse, "db.orders")
    assert len(rows) > 70

    got = sql(strata_bin, warehouse, "SELECT * FROM db.orders")
    assert sorted(json.dumps(r, default=str, sort_keys=True) for r in got) == \
        sorted(json.dumps(r, default=str, sort_keys=True) for r in rows)

    want = sorted((r["k"], r["amount"]) for r in rows
                  if r["p"] == "north" and r["v"] > 40 and r["amount"] < Decimal("150"))
    got = sql(strata_bin, warehouse,
              "SELECT k, amount FROM db.orders WHERE p = 'north' AND v > 40 AND amount < 150")
    assert sorted((r["k"], r["amount"]) for r in got) == want

    groups = defaultdict(lambda: [0, Decimal(0), None])
    for r in rows:
        g = groups[(r["p"], r["s"])]
        g[0] += 1
        g[1] += r["amount"]
        g[2] = r["v"] if g[2] is None else min(g[2], r["v"])
    got = sql(strata_bin, warehouse,
              "SELECT p, s, COUNT(*) AS n, SUM(amount) AS total, MIN(v) AS lo "
              "FROM db.orders GROUP BY p, s ORDER BY p, s")
    assert [(r["p"], r["s"], r["n"], Decimal(r["total"]), r["lo"]) for r in got] == \
        [(p, s, n, t, lo) for (p, s), (n, t, lo) in sorted(groups.items())]

    labels = {r["p"]: r["label"] for r in read(strata_bin, warehouse, "db.regions")}
    want = sorted((labels[r["p"]], r["k"]) for r in rows if r["p"] in labels and r["k"] % 2 == 0)
    got = sql(strata_bin, warehouse,
              "SELECT g.label, o.k FROM db.orders o JOIN db.regions g ON o.p = g.p "
              "WHERE o.k % 2 = 0")
    assert sorted((r["label"], r["k"]) for r in got) == want


def table_dir(warehouse):
    return os.path.join(str(warehouse), "db.db", "orders")


def test_system_tables_match_table_show_and_files_on_disk(strata_bin, tmp_path):
    warehouse = make_tables(strata_bin, tmp_path)
    root = table_dir(warehouse)
    show = json.loads(strata(strata_bin, warehouse, "table", "show", "db.orders", "--json"))
    strata(strata_bin, warehouse, "tag", "create", "db.orders", "first", "--snapshot", "1")
    os.makedirs(os.path.join(root, "consumer"), exist_ok=True)
    with open(os.path.join(root, "consumer", "consumer-etl"), "w") as f:
        json.dump({"nextSnapshot": 2}, f)

    # $files: exactly the Parquet files on disk (nothing was compacted or expired).
    on_disk = set()
    for d, _, names in os.walk(root):
        for n in names:
            if n.endswith(".parquet"):
                on_disk.add(os.path.join(d, n))
    files = sql(strata_bin, warehouse, "SELECT * FROM db.orders$files")
    assert {os.path.normpath(f["file_path"].replace("file://", "")) for f in files} == \
        {os.path.normpath(p) for p in on_disk}
    for f in files:
        path = f["file_path"].replace("file://", "")
        assert f["file_size_in_bytes"] == os.path.getsize(path)
        assert f["file_format"] == "parquet"
        assert path.startswith(os.path.join(root, f["partition"], "bucket-%d" % f["bucket"]))
    # Per bucket and level, the same counts as `table show --json`.
    by_level = defaultdict(lambda: [0, 0, 0])
    for f in files:
        g = by_level[(f["partition"], f["bucket"], f["level"])]
        g[0] += 1
        g[1] += f["record_count"]
        g[2] += f["file_size_in_bytes"]
    shown = {(b["partition"], b["bucket"], lv["level"]): [lv["files"], lv["rows"], lv["bytes"]]
             for b in show["buckets"] for lv in b["levels"]}
    assert dict(by_level) == shown

    # $buckets and $partitions: the same totals.
    buckets = sql(strata_bin, warehouse, "SELECT * FROM db.orders$buckets")
    per_bucket = defaultdict(lambda: [0, 0, 0])
    for (p, b, _), (n, rows, size) in shown.items():
        g = per_bucket[(p, b)]
        g[0] += n
        g[1] += rows
        g[2] += size
    assert {(r["partition"], r["bucket"]): [r["file_count"], r["record_count"],
                                            r["file_size_in_bytes"]] for r in buckets} == \
        dict(per_bucket)
    partitions = sql(strata_bin, warehouse, "SELECT * FROM db.orders$partitions")
    per_part = defaultdict(lambda: [0, 0, 0])
    for (p, _), v in per_bucket.items():
        per_part[p] = [a + b for a, b in zip(per_part[p], v)]
    assert {r["partition"]: [r["file_count"], r["record_count"], r["file_size_in_bytes"]]
            for r in partitions} == dict(per_part)

    # $snapshots: one row per snapshot file, with its fields.
    snap_dir = os.path.join(root, "snapshot")
    snap_files = {int(n[len("snapshot-"):]): json.load(open(os.path.join(snap_dir, n)))
                  for n in os.listdir(snap_dir) if n.startswith("snapshot-")}
    snapshots = sql(strata_bin, warehouse, "SELECT * FROM db.orders$snapshots ORDER BY snapshot_id")
    assert [s["snapshot_id"] for s in snapshots] == sorted(snap_files)
    for s in snapshots:
        f = snap_files[s["snapshot_id"]]
        assert (s["schema_id"], s["commit_user"], s["commit_identifier"], s["commit_kind"],
                s["base_manifest_list"], s["delta_manifest_list"], s["total_record_count"],
                s["delta_record_count"]) == \
            (f["schemaId"], f["commitUser"], f["commitIdentifier"], f["commitKind"],
             f["baseManifestList"], f["deltaManifestList"], f["totalRecordCount"],
             f["deltaRecordCount"])
    assert snapshots[-1]["snapshot_id"] == show["latestSnapshot"]["id"]

    # $schemas and $options.
    schema_dir = os.path.join(root, "schema")
    schema_files = {int(n[len("schema-"):]): json.load(open(os.path.join(schema_dir, n)))
                    for n in os.listdir(schema_dir) if n.startswith("schema-")}
    schemas = sql(strata_bin, warehouse, "SELECT * FROM db.orders$schemas")
    assert {s["schema_id"] for s in schemas} == set(schema_files)
    for s in schemas:
        f = schema_files[s["schema_id"]]
        assert json.loads(s["fields"]) == f["fields"]
        assert json.loads(s["primary_keys"]) == f["primaryKeys"]
        assert json.loads(s["partition_keys"]) == f["partitionKeys"]
        assert json.loads(s["options"]) == f["options"]
    options = sql(strata_bin, warehouse, "SELECT key, value FROM db.orders$options")
    assert {o["key"]: o["value"] for o in options} == show["options"]

    # $manifests: the manifests of the latest snapshot exist with their sizes.
    manifests = sql(strata_bin, warehouse, "SELECT * FROM db.orders$manifests")
    assert manifests
    for m in manifests:
        assert os.path.getsize(os.path.join(root, "manifest", m["file_name"])) == m["file_size"]
    assert sum(m["num_added_files"] - m["num_deleted_files"] for m in manifests) == len(files)

    # $tags and $consumers: their files.
    tag_file = json.load(open(os.path.join(root, "tag", "tag-first")))
    tags = sql(strata_bin, warehouse, "SELECT * FROM db.orders$tags")
    assert [(t["tag_name"], t["snapshot_id"], t["schema_id"], t["record_count"]) for t in tags] \
        == [("first", tag_file["id"], tag_file["schemaId"], tag_file["totalRecordCount"])]
    consumers = sql(strata_bin, warehouse, "SELECT * FROM db.orders$consumers")
    assert consumers == [{"consumer_id": "etl", "next_snapshot_id": 2}]

    # $audit_log: the read's rows as +I, plus the deleted keys as -D.
    audit = sql(strata_bin, warehouse, "SELECT * FROM db.orders$audit_log")
    rows = read(strata_bin, warehouse, "db.orders")
    live = [dict((k, v) for k, v in r.items() if k != "rowkind") for r in audit
            if r["rowkind"] != "-D"]
    assert sorted(json.dumps(r, default=str, sort_keys=True) for r in live) == \
        sorted(json.dumps(r, default=str, sort_keys=True) for r in rows)
    assert sorted(r["k"] for r in audit if r["rowkind"] == "-D") == list(range(0, 80, 10))


def test_sql_errors_are_one_line(strata_bin, tmp_path):
    warehouse = make_tables(strata_bin, tmp_path)
    for query, words in [("SELECT * FROM db.nope", "nope"),
                         ("SELEKT 1", "SQL"),
                         ("SELECT * FROM db.orders$nope", "nope")]:
        proc = run_strata(strata_bin, ["--warehouse", str(warehouse), "sql", query])
        assert proc.returncode != 0
        lines = [x for x in proc.stderr.splitlines() if x.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], \
            proc.stderr
