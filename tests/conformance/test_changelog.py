"""Changelogs of tables Strata writes, read by ``strata changes`` and by Paimon readers.

- A follower (``strata changes --follow --consumer-id``) started before the writes,
  stopped (SIGTERM) and restarted twice while ``strata write`` commits random Debezium
  CDC and ``strata compact`` compacts in between, prints every change exactly once: its
  output equals a one-shot ``strata changes --from 0``; replayed onto an empty table it
  gives ``strata read``; a ``sum(v) group by g`` kept from it equals the table's (for the
  producers that give before-images), for `input`, `none`, `lookup` and `full-compaction`.
- pypaimon 2.1.0's streaming read and the ``paimon`` crate's incremental changelog scan
  (pypaimon-rust) read the same changes from the changelog files (and ``none`` deltas)
  Strata wrote; ``strata changes`` reads the changelog pypaimon wrote as pypaimon does.
"""

import json
import os
import random
import signal
import subprocess
import threading
import time

import pyarrow as pa
import pytest

from conftest import strata_env
from test_strata_written import strata

TABLE = "db.t"
SCHEMA = {"fields": [{"name": "id", "type": "BIGINT NOT NULL"}, {"name": "g", "type": "INT"},
                     {"name": "v", "type": "BIGINT"}],
          "primaryKeys": ["id"], "partitionKeys": [], "options": {"bucket": "2"}}

# Producers whose changes carry before-images when the input does (Debezium does).
COMPLETE = {"input", "lookup", "full-compaction"}


def create_table(strata_bin, warehouse, tmp_path, options):
    schema = dict(SCHEMA, options=dict(SCHEMA["options"], **options))
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema), encoding="utf-8")
    strata(strata_bin, warehouse, "db", "create", "db", "--if-not-exists")
    strata(strata_bin, warehouse, "table", "create", TABLE, "--schema", str(path))


class Source:
    """A random source table emitting Debezium change events."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.rows = {}
        self.next_key = 0

    def _row(self, key):
        return {"id": key, "g": self.rng.randrange(4),
                "v": None if self.rng.randrange(10) == 0 else self.rng.randrange(-20, 80)}

    def events(self, n):
        out = []
        for _ in range(n):
            roll = self.rng.randrange(10)
            if not self.rows or roll < 4:
                key = self.next_key
                self.next_key += 1
                self.rows[key] = self._row(key)
                out.append({"before": None, "after": self.rows[key], "op": "c"})
            elif roll < 8:
                key = self.rng.choice(sorted(self.rows))
                before = self.rows[key]
                after = before if self.rng.randrange(6) == 0 else self._row(key)
                self.rows[key] = after
                out.append({"before": before, "after": after, "op": "u"})
            else:
                key = self.rng.choice(sorted(self.rows))
                out.append({"before": self.rows.pop(key), "after": None, "op": "d"})
        return out


def write_events(strata_bin, warehouse, path, events):
    with open(path, "w", encoding="utf-8") as f:
        for e in events:
            f.write(json.dumps(e) + "\n")
    strata(strata_bin, warehouse, "write", TABLE, "--input", str(path),
           "--format", "debezium-json")


def parse_changes(text):
    out = []
    for line in text.splitlines():
        row = json.loads(line)
        out.append((row.pop("_row_kind"), row["id"], row.get("g"), row.get("v")))
    return out


def replay(changes, strict):
    """The table and `sum(v) group by g` kept from changes alone."""
    rows, sums = {}, {}
    for kind, key, g, v in changes:
        if kind in ("+I", "+U"):
            if strict:
                assert kind == "+U" or key not in rows, "+I of existing key %s" % key
            old = rows.get(key)
            if old is not None and not strict:
                sums[old[0]] = sums.get(old[0], 0) - (old[1] or 0)
            rows[key] = (g, v)
            sums[g] = sums.get(g, 0) + (v or 0)
        else:
            old = rows.pop(key, None)
            if strict:
                assert old == (g, v), "%s of key %s retracts %s, not %s" % (kind, key, (g, v), old)
            sums[g] = sums.get(g, 0) - (v or 0)
    return rows, {g: s for g, s in sums.items() if s != 0}


def table_rows(strata_bin, warehouse):
    out = strata(strata_bin, warehouse, "read", TABLE)
    rows = {}
    for line in out.splitlines():
        r = json.loads(line)
        rows[r["id"]] = (r["g"], r["v"])
    return rows


def sums_of(rows):
    sums = {}
    for g, v in rows.values():
        sums[g] = sums.get(g, 0) + (v or 0)
    return {g: s for g, s in sums.items() if s != 0}


def table_dir(warehouse):
    return os.path.join(str(warehouse), "db.db", "t")


def snapshot_ids(warehouse):
    d = os.path.join(table_dir(warehouse), "snapshot")
    return sorted(int(n[len("snapshot-"):]) for n in os.listdir(d) if n.startswith("snapshot-"))


def consumer_next(warehouse, consumer):
    path = os.path.join(table_dir(warehouse), "consumer", "consumer-" + consumer)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)["nextSnapshot"]


class Follower:
    """``strata changes --follow --consumer-id`` as a process writing to a file."""

    def __init__(self, strata_bin, warehouse, out_path, consumer):
        self.out_path = out_path
        self.out = open(out_path, "w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [strata_bin, "--warehouse", str(warehouse), "changes", TABLE, "--follow",
             "--consumer-id", consumer, "--poll-interval", "50ms"],
            stdout=self.out, stderr=subprocess.PIPE, env=strata_env(), text=True)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail("strata changes --follow did not stop on SIGTERM", pytrace=False)
        self.out.close()
        assert self.proc.returncode == 0, err
        assert "panicked" not in err, err
        with open(self.out_path, encoding="utf-8") as f:
            return f.read()


def wait_until(done, follower, what, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if done():
            return
        if follower.proc.poll() is not None:
            break
        time.sleep(0.05)
    # Why it stopped, if it did: a follower that exits early is the failure to look at.
    status = follower.proc.poll()
    err = follower.proc.stderr.read() if status is not None else "(still running)"
    pytest.fail("%s; exit status %s: %s" % (what(), status, err), pytrace=False)


def wait_caught_up(warehouse, consumer, follower):
    wait_until(lambda: consumer_next(warehouse, consumer) == snapshot_ids(warehouse)[-1] + 1,
               follower, lambda: "the follower did not reach snapshot %d (consumer at %s)"
               % (snapshot_ids(warehouse)[-1], consumer_next(warehouse, consumer)))


PRODUCERS = ["input", "none", "lookup", "full-compaction"]


@pytest.mark.parametrize("producer", PRODUCERS)
def test_follower_restarted_with_consumer_sees_every_change_once(strata_bin, tmp_path, producer):
    warehouse = tmp_path / "warehouse"
    create_table(strata_bin, warehouse, tmp_path, {
        "changelog-producer": producer, "write-only": "true",
        "num-sorted-run.compaction-trigger": "2", "num-sorted-run.stop-trigger": "100"})
    source = Source(PRODUCERS.index(producer) + 1)
    outputs = []
    follower = Follower(strata_bin, warehouse, tmp_path / "out-0.jsonl", "downstream")
    # Started on the empty table: it records snapshot 1 as next, so it prints snapshot 1's
    # changes (a start after the first commit would print that snapshot's rows as +I).
    wait_until(lambda: consumer_next(warehouse, "downstream") == 1, follower,
               lambda: "the follower did not record its start on the empty table")
    restarts = {6, 11}
    compactions = 0
    for c in range(16):
        write_events(strata_bin, warehouse, tmp_path / ("c%d.json" % c),
                     source.events(source.rng.randrange(1, 10)))
        if source.rng.randrange(3) == 0:
            full = ["--full"] if source.rng.randrange(2) == 0 else []
            strata(strata_bin, warehouse, "compact", TABLE, *full)
            compactions += 1
        if c in restarts:
            # Caught up first, so each run prints something (the compaction producers'
            # changes come only with compactions); a stop in the middle of a snapshot is
            # the follower's own concern (it finishes the snapshot).
            wait_caught_up(warehouse, "downstream", follower)
            outputs.append(follower.stop())
            follower = Follower(strata_bin, warehouse, tmp_path / ("out-%d.jsonl" % c),
                                "downstream")
    strata(strata_bin, warehouse, "compact", TABLE, "--full")
    wait_caught_up(warehouse, "downstream", follower)
    outputs.append(follower.stop())
    assert compactions >= 2

    followed = parse_changes("".join(outputs))
    assert len(followed) >= 40 and all(outputs), [len(o) for o in outputs]
    once = parse_changes(strata(strata_bin, warehouse, "changes", TABLE, "--from", "0"))
    assert followed == once, "the restarted follower's output differs from one read"
    strict = producer in COMPLETE
    rows, sums = replay(followed, strict)
    table = table_rows(strata_bin, warehouse)
    assert rows == table
    assert rows == {k: (r["g"], r["v"]) for k, r in source.rows.items()}
    if strict:
        assert sums == sums_of(table)
    # Without --from: the earliest snapshot's rows, then the rest; same end state.
    full_rows, _ = replay(parse_changes(strata(strata_bin, warehouse, "changes", TABLE)), False)
    assert full_rows == table


def strata_changes_by_snapshot(strata_bin, warehouse):
    """{snapshot: sorted changes} from ``strata changes --from N-1 --to N``."""
    out = {}
    for s in snapshot_ids(warehouse):
        got = parse_changes(strata(strata_bin, warehouse, "changes", TABLE,
                                   "--from", str(s - 1), "--to", str(s)))
        if got:
            out[s] = sorted(got, key=repr)
    return out


# The compaction producers' changelog comes with `strata compact` (the tables are write-only).
COMPACT_EVERY = {"lookup": 2, "full-compaction": 2}


def write_some(strata_bin, warehouse, tmp_path, producer, commits, compact_every=0):
    # write-only: no COMPACT snapshots unless asked (pypaimon catches up over more than 10
    # snapshots with a diff, not the changelog).
    create_table(strata_bin, warehouse, tmp_path,
                 {"changelog-producer": producer, "write-only": "true"})
    source = Source(7)
    for c in range(commits):
        write_events(strata_bin, warehouse, tmp_path / ("c%d.json" % c),
                     source.events(source.rng.randrange(2, 9)))
        if compact_every and c % compact_every == compact_every - 1:
            strata(strata_bin, warehouse, "compact", TABLE, "--full")
    return source


@pytest.mark.parametrize("producer", PRODUCERS)
def test_pypaimon_streams_the_changelog_strata_wrote(strata_bin, tmp_path, producer):
    from pypaimon import CatalogFactory

    warehouse = tmp_path / "warehouse"
    # At most 10 snapshots (a COMPACT snapshot per bucket for the compaction producers).
    commits = 4 if producer in COMPACT_EVERY else 6
    write_some(strata_bin, warehouse, tmp_path, producer, commits, COMPACT_EVERY.get(producer, 0))
    want = strata_changes_by_snapshot(strata_bin, warehouse)
    # pypaimon's streaming read resumes a consumer: start it at snapshot 1.
    consumer_dir = os.path.join(table_dir(warehouse), "consumer")
    os.makedirs(consumer_dir, exist_ok=True)
    with open(os.path.join(consumer_dir, "consumer-pypaimon"), "w") as f:
        f.write(json.dumps({"nextSnapshot": 1}))
    table = CatalogFactory.create({"warehouse": str(warehouse)}).get_table(TABLE)
    builder = (table.new_stream_read_builder().with_include_row_kind(True)
               .with_consumer_id("pypaimon").with_poll_interval_ms(50))
    scan = builder.new_streaming_scan()
    read = builder.new_read()
    got = {}
    # The stream yields only snapshots with changes: stop at the last of those.
    last = max(want)

    def follow():
        for plan in scan.stream_sync():
            if plan.splits():
                arrow = read.to_arrow(plan.splits())
                rows = [(r["_row_kind"], r["id"], r["g"], r["v"]) for r in arrow.to_pylist()]
                if rows:
                    got[plan.snapshot_id] = sorted(rows, key=repr)
            if plan.snapshot_id >= last:
                return

    # A daemon thread, so a stream that never ends cannot hang the suite.
    errors = []

    def guarded():
        try:
            follow()
        except Exception as e:  # reported below
            errors.append(e)

    thread = threading.Thread(target=guarded, daemon=True)
    thread.start()
    thread.join(timeout=120)
    if thread.is_alive():
        pytest.fail("pypaimon's stream did not reach snapshot %d; got %s"
                    % (last, sorted(got)), pytrace=False)
    if errors:
        raise errors[0]
    assert got == want


@pytest.mark.parametrize("producer", PRODUCERS)
def test_paimon_crate_reads_the_changelog_strata_wrote(strata_bin, tmp_path, producer):
    from pypaimon_rust.datafusion import PaimonCatalog

    warehouse = tmp_path / "warehouse"
    write_some(strata_bin, warehouse, tmp_path, producer, 8, COMPACT_EVERY.get(producer, 0))
    want = strata_changes_by_snapshot(strata_bin, warehouse)
    table = PaimonCatalog({"warehouse": str(warehouse)}).get_table(TABLE)
    got = {}
    for s in snapshot_ids(warehouse):
        builder = table.new_read_builder().with_include_row_kind(True)
        mode = "delta" if producer == "none" else "changelog"
        splits = builder.new_incremental_scan(s - 1, s, mode=mode).plan().splits()
        batches = builder.new_read().read(splits) if splits else []
        rows = pa.Table.from_batches(batches).to_pylist() if batches else []
        if rows:
            got[s] = sorted(((r["rowkind"], r["id"], r["g"], r["v"]) for r in rows), key=repr)
    assert got == want


def test_strata_reads_the_changelog_pypaimon_wrote(strata_bin, tmp_path):
    """pypaimon 2.1.0 writes `input` changelog files (row kinds through `rowkind.field`);
    ``strata changes`` reads them as pypaimon's own streaming read does, and replays them
    to the table pypaimon wrote."""
    from pypaimon import CatalogFactory
    from pypaimon.schema.data_types import DataField, DataTypeParser
    from pypaimon.schema.schema import Schema

    warehouse = tmp_path / "warehouse"
    os.makedirs(warehouse)
    catalog = CatalogFactory.create({"warehouse": str(warehouse)})
    catalog.create_database("db", True)
    fields = [DataTypeParser.parse_data_field({"id": i, "name": n, "type": t}) for i, (n, t) in
              enumerate([("id", "BIGINT NOT NULL"), ("g", "INT"), ("v", "BIGINT"),
                         ("op", "STRING")])]
    catalog.create_table(TABLE, Schema(fields, [], ["id"], {
        "bucket": "2", "changelog-producer": "input", "rowkind.field": "op"}), False)
    table = catalog.get_table(TABLE)
    source = Source(5)
    arrow_schema = pa.schema([("id", pa.int64(), False), ("g", pa.int32()), ("v", pa.int64()),
                              ("op", pa.string())])
    for _ in range(5):
        rows = []
        for e in source.events(source.rng.randrange(2, 9)):
            if e["op"] == "c":
                rows.append(dict(e["after"], op="+I"))
            elif e["op"] == "u":
                rows.append(dict(e["before"], op="-U"))
                rows.append(dict(e["after"], op="+U"))
            else:
                rows.append(dict(e["before"], op="-D"))
        wb = table.new_batch_write_builder()
        tw, tc = wb.new_write(), wb.new_commit()
        tw.write_arrow(pa.Table.from_pylist(rows, schema=arrow_schema))
        tc.commit(tw.prepare_commit())
        tw.close()
        tc.close()
    ids = snapshot_ids(warehouse)
    assert ids, "pypaimon committed nothing"
    snap = json.load(open(os.path.join(table_dir(warehouse), "snapshot", "snapshot-%d" % ids[-1])))
    assert snap.get("changelogManifestList"), "pypaimon wrote no changelog"

    strata_rows, in_order = {}, []
    for s in ids:
        got = [json.loads(line) for line in strata(
            strata_bin, warehouse, "changes", TABLE, "--from", str(s - 1), "--to",
            str(s)).splitlines()]
        got = [(r["_row_kind"], r["id"], r["g"], r["v"]) for r in got]
        in_order.extend(got)
        strata_rows[s] = sorted(got, key=repr)
    consumer_dir = os.path.join(table_dir(warehouse), "consumer")
    os.makedirs(consumer_dir, exist_ok=True)
    with open(os.path.join(consumer_dir, "consumer-pypaimon"), "w") as f:
        f.write(json.dumps({"nextSnapshot": 1}))
    builder = (table.new_stream_read_builder().with_include_row_kind(True)
               .with_consumer_id("pypaimon").with_poll_interval_ms(50))
    scan, read = builder.new_streaming_scan(), builder.new_read()
    pypaimon_rows = {}
    for plan in scan.stream_sync():
        if plan.splits():
            pypaimon_rows[plan.snapshot_id] = sorted(
                ((r["_row_kind"], r["id"], r["g"], r["v"])
                 for r in read.to_arrow(plan.splits()).to_pylist()), key=repr)
        if plan.snapshot_id >= ids[-1]:
            break
    assert strata_rows == pypaimon_rows
    # pypaimon's "input" changelog holds each flush's merged rows (what its data file
    # holds), not the raw input as Paimon's Java writer does: no -U rows, no before-images,
    # so it replays only as upserts.
    assert not any(kind == "-U" for kind, _, _, _ in in_order)
    rows, _ = replay(in_order, False)
    assert rows == {k: (r["g"], r["v"]) for k, r in source.rows.items()}
