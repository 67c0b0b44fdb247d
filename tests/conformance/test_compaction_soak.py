"""Sustained load: 2 writer processes at a time, update-heavy, with the `strata compactor`
daemon running, for STRATA_SOAK_SECS seconds (default 60; the issue's long run is 600+).

- No snapshot ever has a bucket with more sorted runs than num-sorted-run.stop-trigger
  (every snapshot is replayed from its delta manifests with pypaimon's manifest reader).
- No key is lost or duplicated: the final table equals the model, read by strata and by
  pypaimon.
- The daemon's metrics endpoint answers during the run and counts its compactions.
"""

import json
import os
import random
import re
import signal
import subprocess
import threading
import time
import urllib.request

from conftest import run_strata
from test_crash_and_concurrency import env_for
from test_paimon_read import _short

import canonical
import paimon_gen

STOP_TRIGGER = 5
SCHEMA = {
    "fields": [
        {"name": "k", "type": "BIGINT NOT NULL"},
        {"name": "v", "type": "STRING"},
        {"name": "n", "type": "BIGINT"},
        {"name": "op", "type": "STRING"},
    ],
    "primaryKeys": ["k"],
    "partitionKeys": [],
    # write-only: the writers leave compaction to the daemon and wait for it at the stop
    # trigger, which is what keeps every bucket under it.
    "options": {"bucket": "2", "write-only": "true", "rowkind.field": "op",
                "num-sorted-run.compaction-trigger": "3",
                "num-sorted-run.stop-trigger": str(STOP_TRIGGER),
                "target-file-size": "64kb"},
}
KEYS_PER_WRITER = 3000
ROWS_PER_RUN = 2000
COMMIT_EVERY = 250


def strata(strata_bin, warehouse, *args):
    proc = run_strata(strata_bin, ["--warehouse", str(warehouse)] + list(args))
    assert proc.returncode == 0 and "panicked" not in proc.stderr, _short(proc.stderr, 2000)
    return proc.stdout


class Writer(threading.Thread):
    """Runs `strata write --commit-every` again and again on its own keys until the deadline;
    keeps the model of what it committed."""

    def __init__(self, strata_bin, warehouse, tmp_path, index, deadline):
        super().__init__(daemon=True)
        self.bin, self.warehouse, self.tmp = strata_bin, warehouse, tmp_path
        self.index, self.deadline = index, deadline
        self.rng = random.Random(100 + index)
        self.model = {}
        self.runs = 0
        self.error = None

    def key(self):
        return self.rng.randrange(KEYS_PER_WRITER) * 2 + self.index

    def run(self):
        try:
            while time.time() < self.deadline:
                self.runs += 1
                path = self.tmp / ("w%d-%d.jsonl" % (self.index, self.runs))
                next_model = dict(self.model)
                with open(path, "w") as f:
                    for i in range(ROWS_PER_RUN):
                        k = self.key()
                        if k in next_model and self.rng.random() < 0.15:
                            f.write(json.dumps({"k": k, "v": None, "n": None, "op": "-D"}) + "\n")
                            del next_model[k]
                        else:
                            row = {"k": k, "v": "w%d-r%d-%d" % (self.index, self.runs, i),
                                   "n": self.runs * 100000 + i, "op": "+I"}
                            f.write(json.dumps(row) + "\n")
                            next_model[k] = row
                proc = subprocess.run(
                    [self.bin, "--warehouse", str(self.warehouse), "write", "db.t",
                     "--input", str(path), "--commit-every", str(COMMIT_EVERY)],
                    capture_output=True, text=True, timeout=900, env=env_for(self.bin))
                if proc.returncode != 0:
                    self.error = "writer %d run %d: %s" % (self.index, self.runs, proc.stderr)
                    return
                self.model = next_model
                os.remove(path)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = "writer %d: %r" % (self.index, e)


def metrics_text(addr):
    with urllib.request.urlopen("http://%s/metrics" % addr, timeout=10) as r:
        return r.read().decode()


def max_runs_per_snapshot(warehouse):
    """Replays every snapshot's delta and returns {snapshot id: most runs in a bucket}."""
    from pypaimon.manifest.manifest_file_manager import ManifestFileManager
    from pypaimon.manifest.manifest_list_manager import ManifestListManager

    table = paimon_gen.make_catalog(str(warehouse)).get_table("db.t")
    sm = table.snapshot_manager()
    latest = sm.get_latest_snapshot().id
    live = {}
    out = {}
    for sid in range(1, latest + 1):
        snapshot = sm.get_snapshot_by_id(sid)
        entries = []
        # Raw entries: read_entries_parallel would cancel out (and drop) the DELETEs.
        for m in ManifestListManager(table).read_delta(snapshot):
            entries += ManifestFileManager(table).read(m.file_name, drop_stats=True,
                                                       file_size=m.file_size)
        for e in entries:
            key = (e.bucket, e.file.level, e.file.file_name)
            if e.kind == 0:
                live[key] = True
            else:
                live.pop(key, None)
        runs = {}
        for bucket, level, _ in live:
            level0, levels = runs.setdefault(bucket, [0, set()])
            if level == 0:
                runs[bucket][0] += 1
            else:
                levels.add(level)
        out[sid] = max([l0 + len(lv) for l0, lv in runs.values()] or [0])
    return out


def test_sustained_writes_with_the_daemon(strata_bin, tmp_path):
    seconds = float(os.environ.get("STRATA_SOAK_SECS", "60"))
    warehouse = tmp_path / "warehouse"
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(SCHEMA))
    strata(strata_bin, warehouse, "db", "create", "db")
    strata(strata_bin, warehouse, "table", "create", "db.t", "--schema", str(schema))

    daemon = subprocess.Popen(
        [strata_bin, "--warehouse", str(warehouse), "compactor", "--poll-interval", "100ms",
         "--metrics-bind", "127.0.0.1:0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env_for(strata_bin))
    try:
        first = daemon.stderr.readline()
        m = re.search(r"metrics at http://([\d.:]+)/metrics", first)
        assert m, "the daemon did not announce its metrics address: %r" % first
        addr = m.group(1)
        # Keep draining the daemon's log so it never blocks on a full pipe.
        log = []
        threading.Thread(target=lambda: log.extend(daemon.stderr), daemon=True).start()

        deadline = time.time() + seconds
        writers = [Writer(strata_bin, warehouse, tmp_path, i, deadline) for i in range(2)]
        for w in writers:
            w.start()
        scrapes = []
        while any(w.is_alive() for w in writers):
            time.sleep(2)
            scrapes.append(metrics_text(addr))
        for w in writers:
            w.join()
            assert w.error is None, w.error
        assert all(w.runs >= 1 for w in writers)
        text = metrics_text(addr)
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=120)
        except subprocess.TimeoutExpired:
            daemon.kill()
            raise
    assert daemon.returncode == 0, "the daemon exited %d: %s" % (daemon.returncode, log[-20:])

    # The daemon worked and said so.
    compactions = sum(float(x) for x in re.findall(
        r'^strata_compactor_compactions_total\{table="db.t",reason="[^"]+"\} (\S+)$', text, re.M))
    assert compactions > 0, text
    assert re.search(r'^strata_compactor_sorted_runs\{table="db.t",partition="",bucket="1"\} \d+$',
                     text, re.M), text
    assert scrapes, "no metrics were scraped during the run"

    # Never above the stop trigger, in any snapshot.
    per_snapshot = max_runs_per_snapshot(warehouse)
    worst = max(per_snapshot.values())
    assert worst <= STOP_TRIGGER, "snapshots over the stop trigger: %s" % sorted(
        (s, r) for s, r in per_snapshot.items() if r > STOP_TRIGGER)[:10]

    # Nothing lost or duplicated.
    model = {}
    for w in writers:
        model.update(w.model)
    out = strata(strata_bin, warehouse, "read", "db.t", "--output-format", "jsonl")
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    keys = [r["k"] for r in rows]
    assert len(keys) == len(set(keys)), "duplicated keys"
    want = {k: {"k": k, "v": r["v"], "n": r["n"], "op": "+I"} for k, r in model.items()}
    got = {r["k"]: r for r in rows}
    assert set(got) == set(want), "lost %s, unexpected %s" % (
        sorted(set(want) - set(got))[:5], sorted(set(got) - set(want))[:5])
    bad = [k for k in want if got[k] != want[k]][:5]
    assert not bad, [(got[k], want[k]) for k in bad]
    table = paimon_gen.make_catalog(str(warehouse)).get_table("db.t")
    read = paimon_gen.read_snapshot(table, table.snapshot_manager().get_latest_snapshot().id)
    assert sorted(canonical.render_arrow_table(read)) == sorted(out.splitlines())
    print("soak: %ds, %d writer runs, %d snapshots, %d compactions, worst %d runs" % (
        seconds, sum(w.runs for w in writers), len(per_snapshot), compactions, worst))
