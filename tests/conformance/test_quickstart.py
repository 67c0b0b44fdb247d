"""scripts/quickstart, README's first command, runs end to end against the binary under
test: `strata serve` with its compactor on a fresh local warehouse, CSV and Debezium CDC
written with `strata write`, and the table read back by strata, pypaimon, and through the
REST catalog by pyiceberg and DuckDB, and a Spark SQL aggregate through the catalog (the
script itself checks those equal `strata read`)."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def test_quickstart_runs_end_to_end(strata_bin, tmp_path):
    env = dict(os.environ, STRATA_BIN=strata_bin, STRATA_WAREHOUSE=str(tmp_path / "wh"),
               STRATA_VENV=os.environ.get("STRATA_VENV", sys.prefix))
    for var in ("RUST_LOG", "STRATA_LOG", "STRATA_QUICKSTART_BIND"):
        env.pop(var, None)
    try:
        r = subprocess.run([os.path.join(ROOT, "scripts", "quickstart")], env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=300,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail("scripts/quickstart took over 300 s", pytrace=False)
    assert r.returncode == 0, "quickstart failed:\n%s\n%s" % (r.stdout[-4000:], r.stderr[-4000:])
    out = r.stdout
    assert "the compactor compacted the load" in out
    assert "the compactor compacted the changes" in out
    assert "pyiceberg and DuckDB read the same 3 rows as strata read" in out
    assert "Spark's aggregate agrees with strata read" in out
    # The CDC: order 1 updated to 30.00, order 3 deleted, order 4 inserted.
    latest = out.split("==== latest rows ====", 1)[1].split("====", 1)[0]
    ids = [line.split("|")[0].strip() for line in latest.splitlines() if "|" in line][1:]
    assert ids == ["1", "2", "4"], latest
    assert "30.00" in latest and "carol" not in latest
