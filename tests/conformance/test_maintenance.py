"""Maintenance stays readable by Paimon: pypaimon 2.1.0 reads a Strata table after
``strata expire``, reads tags Strata created (plain and with a retention, i.e. with
``tagCreateTime``/``tagTimeRetained``), and Strata reads, lists and rolls back to tags
pypaimon created. Every read is compared with a model of each snapshot.
"""

import json
import os
import re
from datetime import timedelta

import pytest

from conftest import run_strata
from test_paimon_read import _short

SCHEMA = {
    "fields": [
        {"name": "id", "type": "BIGINT NOT NULL"},
        {"name": "v", "type": "STRING"},
    ],
    "primaryKeys": ["id"],
    "partitionKeys": [],
    # write-only: the writer must not add compaction snapshots, so that snapshot n is
    # the n-th write and the model of each snapshot stays simple.
    "options": {"bucket": "2", "write-only": "true"},
}
COMMITS = 8


@pytest.fixture(scope="module")
def pypaimon():
    try:
        import pypaimon as module  # noqa: F401
    except ImportError as e:
        pytest.fail("pypaimon is not importable (%s); run scripts/test" % e, pytrace=False)
    return module


def strata(strata_bin, warehouse, *args):
    proc = run_strata(strata_bin, ["--warehouse", str(warehouse)] + list(args))
    assert proc.returncode == 0 and "panicked" not in proc.stderr, _short(proc.stderr, 2000)
    return proc.stdout


def make_table(strata_bin, tmp_path):
    """db.t with COMMITS snapshots; returns (warehouse, rows of each snapshot)."""
    warehouse = tmp_path / "warehouse"
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(SCHEMA))
    strata(strata_bin, warehouse, "db", "create", "db")
    strata(strata_bin, warehouse, "table", "create", "db.t", "--schema", str(schema))
    model, states = {}, {}
    for n in range(1, COMMITS + 1):
        rows = [{"id": (n * 3 + i) % 12, "v": "c%d-%d" % (n, i)} for i in range(6)]
        path = tmp_path / ("c%d.jsonl" % n)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        out = strata(strata_bin, warehouse, "write", "db.t", "--input", str(path), "--format", "jsonl")
        assert out.endswith("snapshot %d\n" % n), out
        for r in rows:
            model[r["id"]] = r["v"]
        states[n] = sorted(model.items())
    return warehouse, states


def catalog_table(warehouse, options=None):
    from pypaimon.catalog.catalog_factory import CatalogFactory

    table = CatalogFactory.create({"warehouse": str(warehouse)}).get_table("db.t")
    return table.copy(options) if options else table


def pypaimon_rows(warehouse, options=None):
    table = catalog_table(warehouse, options)
    rb = table.new_read_builder()
    arrow = rb.new_read().to_arrow(rb.new_scan().plan().splits())
    return sorted((r["id"], r["v"]) for r in arrow.to_pylist()) if arrow is not None else []


def strata_rows(strata_bin, warehouse, *args):
    out = strata(strata_bin, warehouse, "read", "db.t", *args)
    return sorted((r["id"], r["v"]) for r in map(json.loads, out.splitlines()))


def snapshot_ids(warehouse):
    d = warehouse / "db.db" / "t" / "snapshot"
    return sorted(int(n[len("snapshot-"):]) for n in os.listdir(d) if n.startswith("snapshot-"))


def test_pypaimon_reads_after_expiry_and_reads_strata_tags(strata_bin, pypaimon, tmp_path):
    warehouse, states = make_table(strata_bin, tmp_path)
    assert strata(strata_bin, warehouse, "tag", "create", "db.t", "t3", "--snapshot", "3") \
        == "created tag t3 on snapshot 3\n"
    strata(strata_bin, warehouse, "tag", "create", "db.t", "t5", "--snapshot", "5",
           "--time-retained", "7d")
    out = strata(strata_bin, warehouse, "expire", "db.t", "--retain-min", "2", "--retain-max", "2",
                 "--older-than", "0s")
    assert "expired %d snapshots: 1..%d\n" % (COMMITS - 2, COMMITS - 2) in out, out
    assert "retained snapshots %d..%d\n" % (COMMITS - 1, COMMITS) in out, out
    assert re.search(r"^removed total: \d+ files, \d+ bytes$", out, re.M), out
    assert snapshot_ids(warehouse) == [COMMITS - 1, COMMITS]

    # pypaimon reads the latest and a retained older snapshot after expiry.
    assert pypaimon_rows(warehouse) == states[COMMITS]
    assert pypaimon_rows(warehouse, {"scan.snapshot-id": str(COMMITS - 1)}) == states[COMMITS - 1]
    # ... and Strata's tags, whose snapshots have expired.
    assert pypaimon_rows(warehouse, {"scan.tag-name": "t3"}) == states[3]
    assert pypaimon_rows(warehouse, {"scan.tag-name": "t5"}) == states[5]
    assert strata_rows(strata_bin, warehouse, "--tag", "t3") == states[3]
    tags = catalog_table(warehouse).tag_manager()
    assert sorted(tags.list_tags()) == ["t3", "t5"]
    t5 = tags.get("t5")
    assert t5.tag_time_retained == timedelta(days=7)
    assert t5.tag_create_time is not None
    assert tags.get("t3").tag_time_retained is None
    assert t5.trim_to_snapshot().id == 5

    # Deleting the tags removes what only they kept; pypaimon still reads the table.
    strata(strata_bin, warehouse, "tag", "delete", "db.t", "t3")
    strata(strata_bin, warehouse, "tag", "delete", "db.t", "t5")
    out = strata(strata_bin, warehouse, "remove-orphans", "db.t", "--older-than", "0s")
    assert out.splitlines()[-1] == "removed 0 orphan files, 0 bytes", out
    assert pypaimon_rows(warehouse) == states[COMMITS]


def test_strata_reads_and_rolls_back_to_pypaimon_tags(strata_bin, pypaimon, tmp_path):
    warehouse, states = make_table(strata_bin, tmp_path)
    table = catalog_table(warehouse)
    table.create_tag("py3", snapshot_id=3, time_retained="1d")
    table.create_tag("py6", snapshot_id=6)
    listing = strata(strata_bin, warehouse, "tag", "list", "db.t").splitlines()
    assert [line.split("\t")[:2] for line in listing] == [["py3", "3"], ["py6", "6"]]
    assert listing[0].split("\t")[4] == "86400s" and listing[1].split("\t")[4] == "-"
    assert strata_rows(strata_bin, warehouse, "--tag", "py3") == states[3]

    strata(strata_bin, warehouse, "expire", "db.t", "--retain-min", "1", "--retain-max", "1",
           "--older-than", "0s")
    assert snapshot_ids(warehouse) == [COMMITS]
    assert strata_rows(strata_bin, warehouse, "--tag", "py6") == states[6]

    # Rolling back to a tag whose snapshot expired recreates it; pypaimon reads it as
    # the latest snapshot, and the newer tag is gone with the newer snapshots.
    out = strata(strata_bin, warehouse, "rollback", "db.t", "--tag", "py3")
    assert out.splitlines()[:2] == ["recreated snapshot 3 from tag", "rolled back to snapshot 3"], out
    assert "removed tag py6" in out.splitlines(), out
    assert snapshot_ids(warehouse) == [3]
    assert pypaimon_rows(warehouse) == states[3]
    assert strata_rows(strata_bin, warehouse) == states[3]
    # Files only the removed snapshots used are orphans now.
    out = strata(strata_bin, warehouse, "remove-orphans", "db.t", "--older-than", "0s", "--dry-run")
    assert out.splitlines()[-1].startswith("would remove "), out
    assert not out.splitlines()[-1].startswith("would remove 0 "), out
    strata(strata_bin, warehouse, "remove-orphans", "db.t", "--older-than", "0s")
    assert pypaimon_rows(warehouse) == states[3]
    assert pypaimon_rows(warehouse, {"scan.tag-name": "py3"}) == states[3]
