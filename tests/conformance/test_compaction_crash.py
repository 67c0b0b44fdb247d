"""Killing the compactor: `strata compact` and the `strata compactor` daemon are killed at
random points (SIGKILL) and aborted at named failpoints (STRATA_FAILPOINTS), 24 times in
all. After every crash the table reads exactly the model, and the next run finishes the
work (every bucket fully compacted, still equal to the model).
"""

import json
import os
import random
import re
import signal
import subprocess
import time

from conftest import run_strata
from test_crash_and_concurrency import env_for, snapshots
from test_paimon_read import _short

# write-only: the writer leaves compaction to the compactor under test; small files so a
# compaction writes several outputs (the first-output failpoint needs more than one).
SCHEMA = {
    "fields": [
        {"name": "k", "type": "BIGINT NOT NULL"},
        {"name": "v", "type": "STRING"},
        {"name": "op", "type": "STRING"},
    ],
    "primaryKeys": ["k"],
    "partitionKeys": [],
    "options": {"bucket": "2", "write-only": "true", "rowkind.field": "op",
                "target-file-size": "4kb", "num-sorted-run.compaction-trigger": "3",
                "num-sorted-run.stop-trigger": "1000"},
}
FAILPOINTS = ["compact.after-first-output", "compact.before-commit",
              "commit.after-delta-manifest", "commit.before-snapshot", "commit.after-snapshot"]


def strata(strata_bin, warehouse, *args):
    proc = run_strata(strata_bin, ["--warehouse", str(warehouse)] + list(args))
    assert proc.returncode == 0 and "panicked" not in proc.stderr, _short(proc.stderr, 2000)
    return proc.stdout


class Table:
    """db.t with a model of its rows; each `write` is one commit of upserts and deletes."""

    def __init__(self, strata_bin, tmp_path, seed):
        self.bin, self.tmp = strata_bin, tmp_path
        self.warehouse = tmp_path / "warehouse"
        self.rng = random.Random(seed)
        self.model = {}
        self.commits = 0
        schema = tmp_path / "schema.json"
        schema.write_text(json.dumps(SCHEMA))
        strata(strata_bin, self.warehouse, "db", "create", "db")
        strata(strata_bin, self.warehouse, "table", "create", "db.t", "--schema", str(schema))

    def write(self, rows=1500):
        self.commits += 1
        path = self.tmp / ("c%d.jsonl" % self.commits)
        with open(path, "w") as f:
            for _ in range(rows):
                k = self.rng.randrange(6000)
                if k in self.model and self.rng.random() < 0.2:
                    f.write(json.dumps({"k": k, "v": None, "op": "-D"}) + "\n")
                    del self.model[k]
                else:
                    v = "v%d-%d-%s" % (k, self.commits, "x" * self.rng.randrange(40))
                    f.write(json.dumps({"k": k, "v": v, "op": "+I"}) + "\n")
                    self.model[k] = v
        strata(self.bin, self.warehouse, "write", "db.t", "--input", str(path))

    def check(self, what):
        """The table reads the model; snapshot ids have no gaps."""
        snaps = snapshots(self.warehouse)
        assert sorted(snaps) == list(range(1, max(snaps) + 1)), what
        out = strata(self.bin, self.warehouse, "read", "db.t", "--output-format", "jsonl")
        rows = [json.loads(line) for line in out.splitlines() if line.strip()]
        keys = [r["k"] for r in rows]
        assert len(keys) == len(set(keys)), "%s: a key is read twice" % what
        got = {r["k"]: r["v"] for r in rows}
        missing = sorted(set(self.model) - set(got))[:5]
        extra = sorted(set(got) - set(self.model))[:5]
        wrong = sorted(k for k in got if k in self.model and got[k] != self.model[k])[:5]
        assert not (missing or extra or wrong), "%s: missing %s, extra %s, wrong %s" % (
            what, missing, extra, wrong)

    def runs(self):
        """Sorted runs per bucket, from `strata table show`."""
        out = strata(self.bin, self.warehouse, "table", "show", "db.t")
        runs = {}
        for line in out.splitlines():
            m = re.match(r"\s*(bucket-\d+) level (\d+): (\d+) files?", line)
            if m:
                bucket, level, files = m.group(1), int(m.group(2)), int(m.group(3))
                runs[bucket] = runs.get(bucket, 0) + (files if level == 0 else 1)
        return runs


def finish_and_check(table, what):
    """The next run completes the work: a full compaction, then every file at the last level."""
    out = strata(table.bin, table.warehouse, "compact", "db.t", "--full")
    assert out.startswith("compacted db.t") or out.startswith("nothing to compact"), out
    table.check(what + ", then a full compaction")
    again = strata(table.bin, table.warehouse, "compact", "db.t", "--full")
    assert again.startswith("nothing to compact"), again


def test_killed_compact_runs_leave_the_table_intact(strata_bin, tmp_path):
    table = Table(strata_bin, tmp_path, seed=11)
    rng = random.Random(5)
    crashes = 0
    for run in range(20):
        # New level-0 files each time, so there is always work to cut short.
        for _ in range(3):
            table.write()
        args = [strata_bin, "--warehouse", str(table.warehouse), "compact", "db.t", "--full"]
        if run % 2 == 0:
            point = FAILPOINTS[(run // 2) % len(FAILPOINTS)]
            proc = subprocess.run(args, capture_output=True, text=True, timeout=300,
                                  env=env_for(strata_bin, {"STRATA_FAILPOINTS": point}))
            assert proc.returncode != 0, "failpoint %s did not fire: %s" % (point, proc.stdout)
            assert "failpoint %s" % point in proc.stderr
            crashes += 1
            what = "after an abort at %s" % point
        else:
            proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    env=env_for(strata_bin))
            time.sleep(rng.uniform(0.005, 0.06))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                crashes += 1
            proc.wait(timeout=300)
            what = "after a SIGKILL (run %d)" % run
        table.check(what)
        if run % 4 == 3:
            finish_and_check(table, what)
    # 10 failpoint aborts, and most of the 10 random kills land before the run ends.
    assert crashes >= 15, "only %d runs were cut short" % crashes
    finish_and_check(table, "at the end")


def daemon(strata_bin, warehouse, extra_env=None):
    return subprocess.Popen(
        [strata_bin, "--warehouse", str(warehouse), "compactor", "--poll-interval", "50ms"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env=env_for(strata_bin, dict({"STRATA_LOG": "info"}, **(extra_env or {}))))


def test_killed_daemons_leave_the_table_intact(strata_bin, tmp_path):
    table = Table(strata_bin, tmp_path, seed=12)
    rng = random.Random(6)
    crashes = 0
    for run in range(10):
        for _ in range(3):
            table.write()
        if run % 2 == 0:
            # The daemon aborts in its first compaction, at an exact window.
            point = FAILPOINTS[(run // 2) % len(FAILPOINTS)]
            proc = daemon(strata_bin, table.warehouse, {"STRATA_FAILPOINTS": point})
            try:
                _, err = proc.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise AssertionError("the daemon did not reach failpoint %s" % point)
            assert proc.returncode != 0 and "failpoint %s" % point in err, _short(err, 2000)
            what = "after the daemon aborted at %s" % point
        else:
            proc = daemon(strata_bin, table.warehouse)
            time.sleep(rng.uniform(0.1, 0.6))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
            what = "after the daemon was killed (run %d)" % run
        crashes += 1
        table.check(what)
    assert crashes >= 10
    # A daemon that is left alone finishes the work (every bucket below the compaction
    # trigger) and stops cleanly on SIGTERM.
    for _ in range(3):
        table.write()
    proc = daemon(strata_bin, table.warehouse)
    deadline = time.time() + 120
    runs = table.runs()
    while time.time() < deadline and max(runs.values()) >= 3:
        time.sleep(0.2)
        runs = table.runs()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, _short(err, 2000)
    assert "compacted" in err, "the daemon logged no compaction"
    assert max(runs.values()) < 3, "the daemon left %s" % runs
    table.check("after the daemon ran undisturbed")
    finish_and_check(table, "after the daemons")
