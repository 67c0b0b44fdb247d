"""strata reads partial-update and aggregation tables written by pypaimon 2.1.0 as
pypaimon reads them.

``merge_gen.py`` writes the tables (several commits, many versions per key within and
across files) and dumps pypaimon's read of every snapshot; each test compares
``strata read --snapshot K`` with it, type-aware (``canonical.py``).
"""

import json
import os
import subprocess
import sys

import pytest

import merge_gen
from conftest import run_strata
from test_paimon_read import _parse_output, compare_rows

HERE = os.path.dirname(os.path.abspath(__file__))
PARAMS = [pytest.param(c, k, id="%s-snap%d" % (c, k))
          for c in merge_gen.case_names() for k in range(1, merge_gen.SNAPSHOTS + 1)]


@pytest.fixture(scope="module")
def merge_tables(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("merge_engines"))
    warehouse, out = os.path.join(root, "warehouse"), os.path.join(root, "expected")
    python = os.environ.get("STRATA_PYTHON") or sys.executable
    cmd = [python, os.path.join(HERE, "merge_gen.py"), "--warehouse", warehouse, "--out", out]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail("generating the merge-engine tables failed (exit %d):\n%s\n%s"
                    % (proc.returncode, proc.stdout[-4000:], proc.stderr[-8000:]), pytrace=False)
    return warehouse, out


@pytest.mark.parametrize("case,snapshot", PARAMS)
def test_merge_engine_read(strata_bin, merge_tables, case, snapshot):
    warehouse, out = merge_tables
    with open(os.path.join(out, case, "meta.json"), encoding="utf-8") as f:
        meta = json.load(f)
    assert meta["snapshots"] == merge_gen.SNAPSHOTS
    with open(os.path.join(out, case, "snapshot-%d.jsonl" % snapshot), encoding="utf-8") as f:
        expected = [line for line in f.read().split("\n") if line.strip()]
    # Every key is written in every commit, so the expected read is never trivially empty.
    assert expected, "pypaimon read no rows"
    what = "strata read %s --snapshot %d" % (meta["identifier"], snapshot)
    proc = run_strata(strata_bin, ["--warehouse", warehouse, "read", meta["identifier"],
                                   "--snapshot", str(snapshot), "--output-format", "jsonl"])
    assert proc.returncode == 0, "%s failed: %s" % (what, proc.stderr)
    compare_rows(meta, expected, _parse_output(proc.stdout, what), what)
