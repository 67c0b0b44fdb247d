"""`strata serve` runs the compactor inside unless `--no-compactor`: a write-only table
written with `strata write` gets COMPACT snapshots from the server process, its rows stay
the same, the compactor's metrics are served, and pyiceberg reads the compacted table
through the same server. Bad compactor flags fail with one line."""

import json
import time

from conftest import run_strata
from test_iceberg_rest import start_server, stop_server

import iceberg_clients


def _strata(strata_bin, warehouse, *args):
    r = run_strata(strata_bin, ["--warehouse", str(warehouse)] + list(args))
    assert r.returncode == 0, "strata %s failed: %s" % (" ".join(args), r.stderr)
    return r.stdout


def _kinds(warehouse):
    snap = warehouse / "db.db" / "t" / "snapshot"
    return [json.loads(p.read_text())["commitKind"] for p in sorted(snap.glob("snapshot-*"))]


def _rows(strata_bin, warehouse):
    out = _strata(strata_bin, warehouse, "read", "db.t", "--output-format", "jsonl")
    return sorted(json.loads(line)["k"] for line in out.splitlines() if line.strip())


def test_serve_compacts_with_the_embedded_compactor(strata_bin, tmp_path):
    warehouse = tmp_path / "warehouse"
    warehouse.mkdir()
    _strata(strata_bin, warehouse, "db", "create", "db")
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({
        "fields": [{"name": "k", "type": "BIGINT NOT NULL"}, {"name": "v", "type": "STRING"}],
        "primaryKeys": ["k"], "partitionKeys": [],
        "options": {"bucket": "1", "write-only": "true",
                    "num-sorted-run.compaction-trigger": "2"}}))
    _strata(strata_bin, warehouse, "table", "create", "db.t", "--schema", str(schema))
    for c in range(4):
        rows = tmp_path / ("c%d.jsonl" % c)
        rows.write_text("".join(json.dumps({"k": k, "v": "c%d" % c}) + "\n"
                                for k in range(c * 5, c * 5 + 10)))
        _strata(strata_bin, warehouse, "write", "db.t", "--input", str(rows),
                "--format", "jsonl")
    assert "COMPACT" not in _kinds(warehouse)
    want = _rows(strata_bin, warehouse)

    served = start_server(strata_bin, warehouse, "--compactor-poll-interval", "100ms",
                          compactor=True)
    try:
        deadline = time.time() + 60
        while "COMPACT" not in _kinds(warehouse):
            assert time.time() < deadline, "serve did not compact: %s" % _kinds(warehouse)
            time.sleep(0.1)
        assert _rows(strata_bin, warehouse) == want
        table = iceberg_clients.pyiceberg_catalog(served.url, str(warehouse)).load_table("db.t")
        got = sorted(table.scan().to_arrow().column("k").to_pylist())
        assert got == want
    finally:
        stop_server(served)
    assert served.proc.returncode == 0, "serve did not stop cleanly on SIGTERM"


def test_serve_without_compactor_leaves_the_table_alone(strata_bin, tmp_path):
    warehouse = tmp_path / "warehouse"
    warehouse.mkdir()
    _strata(strata_bin, warehouse, "db", "create", "db")
    served = start_server(strata_bin, warehouse)
    try:
        time.sleep(0.5)
    finally:
        stop_server(served)
    served.log.seek(0)
    assert "compactor running" not in served.log.read()


def test_serve_rejects_bad_compactor_flags(strata_bin, tmp_path):
    for flag, value in (("--maintenance-interval", "soon"), ("--orphan-interval", "0s"),
                        ("--compactor-parallelism", "0")):
        r = run_strata(strata_bin, ["--warehouse", str(tmp_path), "serve", "--bind",
                                    "127.0.0.1:0", flag, value])
        assert r.returncode != 0
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
        assert flag in lines[0], r.stderr
