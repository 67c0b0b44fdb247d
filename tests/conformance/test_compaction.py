"""Paimon readers read the tables Strata compacts.

- Generator cases written by ``strata write``, with ``strata compact`` after every commit
  and ``strata compact --full`` at the end: pypaimon 2.1.0 and ``strata read`` equal the
  model after each step; the COMPACT snapshots hold files at levels >= 1.
- Partial-update and aggregation tables written by pypaimon (merge_gen.py), fully compacted
  by Strata: pypaimon and ``strata read`` still read what pypaimon read before.
- A first-row table (Paimon's batch scans skip level 0 there, so readers see only
  compacted data): after ``strata compact --full`` the ``paimon`` crate (pypaimon-rust)
  and pypaimon read the first row of every key.
"""

import copy
import json
import os
import re
import subprocess
import sys

import pytest

import canonical
import merge_gen
import paimon_gen
from test_paimon_read import _parse_output, compare_rows
from test_strata_written import check_snapshot, create_with_strata, render, strata, write_jsonl

HERE = os.path.dirname(os.path.abspath(__file__))

# Compaction after every commit: few runs trigger it, small files roll and get upgraded.
# write-only: `strata compact` does the compacting, not the writer.
LSM_OPTIONS = {"num-sorted-run.compaction-trigger": "2", "target-file-size": "16kb",
               "write-only": "true", "num-sorted-run.stop-trigger": "100"}
CASES = ["types_b4", "part2_b2", "composite_b3", "nested_b2", "many_files_b2"]


def snapshot_files(warehouse, table):
    d = os.path.join(warehouse, table.replace(".", ".db/", 1), "snapshot")
    out = {}
    for name in os.listdir(d):
        if name.startswith("snapshot-"):
            with open(os.path.join(d, name), encoding="utf-8") as f:
                out[int(name[len("snapshot-"):])] = json.load(f)
    return out


def latest_snapshot(warehouse, table):
    return max(snapshot_files(warehouse, table))


def compact(strata_bin, warehouse, table, *flags):
    out = strata(strata_bin, warehouse, "compact", table, *flags)
    assert re.fullmatch(r"(compacted %s: .*; snapshots? [\d, ]+|nothing to compact in %s .*)\n"
                        % (re.escape(table), re.escape(table)), out), out
    return out


@pytest.mark.parametrize("case_name", CASES)
def test_pypaimon_reads_tables_strata_compacted(strata_bin, tmp_path, case_name):
    case = copy.copy(paimon_gen.CASES_BY_NAME[case_name])
    case.options = dict(case.options, **LSM_OPTIONS)
    warehouse = tmp_path / "warehouse"
    create_with_strata(strata_bin, warehouse, case, tmp_path)
    commits = paimon_gen.plan_commits(case)
    states = paimon_gen.model_states(case, commits)
    catalog = paimon_gen.make_catalog(str(warehouse))
    compactions = 0
    for k, ops in enumerate(commits):
        lines = render(case, [row for _, _, row in ops])
        write_jsonl(strata_bin, warehouse, case.table, lines, tmp_path / ("c%d.jsonl" % k))
        if compact(strata_bin, warehouse, case.table).startswith("compacted"):
            compactions += 1
        check_snapshot(strata_bin, warehouse, catalog, case, latest_snapshot(warehouse, case.table),
                       states[k])
    compact(strata_bin, warehouse, case.table, "--full")
    latest = latest_snapshot(warehouse, case.table)
    check_snapshot(strata_bin, warehouse, catalog, case, latest, states[-1])
    assert compactions >= 1, "no automatic compaction ran"

    snaps = snapshot_files(warehouse, case.table)
    kinds = [snaps[i]["commitKind"] for i in sorted(snaps)]
    assert kinds.count("COMPACT") >= compactions
    # After the full compaction every live file is at the last level (num-levels = 3).
    table = catalog.get_table(case.table)
    if states[-1]:
        levels = {f.level for f in compacted_live_files(table)}
        assert levels == {2}, levels


def compacted_live_files(table):
    """Live files of the latest snapshot, as pypaimon's manifest reader sees them."""
    from pypaimon.manifest.manifest_file_manager import ManifestFileManager
    from pypaimon.manifest.manifest_list_manager import ManifestListManager

    snapshot = table.snapshot_manager().get_latest_snapshot()
    manifests = ManifestListManager(table).read_all(snapshot)
    entries = ManifestFileManager(table).read_entries_parallel(manifests, drop_stats=False)
    live = {}
    for e in entries:
        # File names are unique within a table; the level is part of a file's identity.
        key = (e.bucket, e.file.level, e.file.file_name)
        if e.kind == 0:
            live[key] = e.file
        else:
            live.pop(key, None)
    return list(live.values())


@pytest.fixture(scope="module")
def merge_tables(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("merge_compaction"))
    warehouse, out = os.path.join(root, "warehouse"), os.path.join(root, "expected")
    python = os.environ.get("STRATA_PYTHON") or sys.executable
    cmd = [python, os.path.join(HERE, "merge_gen.py"), "--warehouse", warehouse, "--out", out]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail("generating the merge-engine tables failed (exit %d):\n%s\n%s"
                    % (proc.returncode, proc.stdout[-4000:], proc.stderr[-8000:]), pytrace=False)
    return warehouse, out


@pytest.mark.parametrize("case", merge_gen.case_names())
def test_compacted_merge_engine_tables_read_as_before(strata_bin, merge_tables, case):
    warehouse, out = merge_tables
    with open(os.path.join(out, case, "meta.json"), encoding="utf-8") as f:
        meta = json.load(f)
    with open(os.path.join(out, case, "snapshot-%d.jsonl" % meta["snapshots"]),
              encoding="utf-8") as f:
        expected = [line for line in f.read().split("\n") if line.strip()]
    table = meta["identifier"]
    assert compact(strata_bin, warehouse, table, "--full").startswith("compacted")
    latest = latest_snapshot(warehouse, table)
    assert snapshot_files(warehouse, table)[latest]["commitKind"] == "COMPACT"
    # The same table read by pypaimon, after Strata's compaction.
    catalog = paimon_gen.make_catalog(warehouse)
    got = sorted(canonical.render_arrow_table(
        paimon_gen.read_snapshot(catalog.get_table(table), latest)))
    compare_rows(meta, expected, _parse_output("\n".join(got), "pypaimon"),
                 "pypaimon after strata compact")
    out_text = strata(strata_bin, warehouse, "read", table, "--output-format", "jsonl")
    compare_rows(meta, expected, _parse_output(out_text, "strata read"), "strata read")


FIRST_ROW_SCHEMA = {
    "fields": [{"name": "k", "type": "BIGINT NOT NULL"}, {"name": "v", "type": "STRING"},
               {"name": "n", "type": "INT"}],
    "primaryKeys": ["k"], "partitionKeys": [],
    "options": {"bucket": "2", "merge-engine": "first-row", "ignore-delete": "true",
                "write-only": "true", "num-sorted-run.stop-trigger": "100"},
}


def test_first_row_table_compacted_reads_first_rows(strata_bin, tmp_path):
    from pypaimon_rust.datafusion import PaimonCatalog
    import pyarrow as pa

    warehouse = tmp_path / "warehouse"
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(FIRST_ROW_SCHEMA), encoding="utf-8")
    strata(strata_bin, warehouse, "db", "create", "fr")
    strata(strata_bin, warehouse, "table", "create", "fr.t", "--schema", str(schema))
    first = {}
    for commit in range(5):
        rows = [{"k": (i * 7 + commit * 13) % 60, "v": "c%d-%d" % (commit, i), "n": commit * 100 + i}
                for i in range(40)]
        for r in rows:
            first.setdefault(r["k"], r)
        write_jsonl(strata_bin, warehouse, "fr.t", [json.dumps(r) for r in rows],
                    tmp_path / ("fr%d.jsonl" % commit))
    assert compact(strata_bin, warehouse, "fr.t", "--full").startswith("compacted")
    want = sorted(json.dumps(first[k], separators=(",", ":")) for k in first)

    table = PaimonCatalog({"warehouse": str(warehouse)}).get_table("fr.t")
    builder = table.new_read_builder()
    batches = builder.new_read().read(builder.new_scan().plan().splits())
    got = sorted(canonical.render_arrow_table(pa.Table.from_batches(batches))) if batches else []
    assert got == want, "the paimon crate reads %d rows, the model has %d" % (len(got), len(want))

    catalog = paimon_gen.make_catalog(str(warehouse))
    got = sorted(canonical.render_arrow_table(
        paimon_gen.read_snapshot(catalog.get_table("fr.t"), latest_snapshot(warehouse, "fr.t"))))
    assert got == want
    out = strata(strata_bin, warehouse, "read", "fr.t", "--output-format", "jsonl")
    assert sorted(out.splitlines()) == want
