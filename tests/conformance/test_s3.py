"""The conformance and crash tests again, on a local S3-compatible server (moto, started
here on 127.0.0.1), with the same assertions as on a local warehouse. Snapshots are
published by conditional PUT (`If-None-Match: *`), which moto honours.

- SQL over a table written on S3 equals the same queries over `strata read`; an evolved
  table (every schema change) reads the same through strata, SQL and pypaimon; a full
  `strata compact` on S3 leaves reads unchanged for strata and pypaimon;
- `strata serve` from a config file alone serves and compacts an S3 warehouse;
- `strata table create` + `strata write` of generator cases, each snapshot read by
  pypaimon 2.1.0 from S3 (pyarrow's S3 file system with an endpoint override) and by
  `strata read`, both equal to the model;
- four writers racing for snapshot ids;
- writers killed at random points and at failpoints: the table reads exactly its commits;
- with conditional PUT turned off in the client (a store that lacks it): direct commits are
  refused, and racing and killed writers commit through `strata serve`, the warehouse's
  sole committer, with the same assertions.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

import canonical
import paimon_gen
import test_crash_and_concurrency as crash
import test_schema_evolution as evolution
import test_sql
from test_strata_written import check_snapshot, create_with_strata, strata_write_case

BUCKET = "strata-conformance"
# A subset of the generator's cases: every primitive type with several buckets,
# partitions (two keys, a DATE), and nested types.
S3_CASES = ["types_b4", "part2_b2", "nested_b2"]


class Moto:
    def __init__(self, endpoint, proc):
        self.endpoint = endpoint
        self.proc = proc
        self.counter = 0

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="test",
                            aws_secret_access_key="test", region_name="us-east-1")

    def warehouse(self, name):
        """A fresh warehouse URI in the bucket."""
        self.counter += 1
        return "s3://%s/%s-%d" % (BUCKET, name, self.counter)

    def pypaimon_catalog(self, warehouse):
        from pypaimon.catalog.catalog_factory import CatalogFactory

        catalog = CatalogFactory.create({
            "warehouse": warehouse,
            "fs.s3.endpoint": self.endpoint,
            "fs.s3.accessKeyId": "test",
            "fs.s3.accessKeySecret": "test",
            "fs.s3.region": "us-east-1",
            "fs.s3.path-style-access": "true",
        })
        catalog.create_database(paimon_gen.DATABASE, True)
        return catalog

    def snapshots(self, warehouse):
        """Snapshot id -> snapshot JSON of db.t (as crash.snapshots does on disk)."""
        return self.snapshots_of(warehouse, "db.t")

    def snapshots_of(self, warehouse, table):
        db, name = table.split(".")
        prefix = warehouse[len("s3://%s/" % BUCKET):] + "/%s.db/%s/snapshot/snapshot-" % (db, name)
        client = self.client()
        out = {}
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        for page in pages:
            for obj in page.get("Contents", []):
                body = client.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
                out[int(obj["Key"][len(prefix):])] = json.loads(body)
        return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto():
    server = shutil.which("moto_server", path=os.path.dirname(sys.executable))
    if server is None:
        pytest.fail("moto_server is not installed next to %s: run scripts/test (it installs "
                    "moto[server] from tests/conformance/requirements.txt)" % sys.executable,
                    pytrace=False)
    port = free_port()
    proc = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = "http://127.0.0.1:%d" % port
    deadline = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("moto_server did not start on port %d" % port, pytrace=False)
            time.sleep(0.1)
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test",
           "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
           "AWS_EC2_METADATA_DISABLED": "true"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # strata (run by the shared helpers) reads these
    m = Moto(endpoint, proc)
    m.client().create_bucket(Bucket=BUCKET)
    try:
        yield m
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("case_name", S3_CASES)
def test_pypaimon_reads_strata_written_on_s3(strata_bin, moto, tmp_path, case_name):
    case = paimon_gen.CASES_BY_NAME[case_name]
    warehouse = moto.warehouse(case_name)
    create_with_strata(strata_bin, warehouse, case, tmp_path)
    commits = paimon_gen.plan_commits(case)
    states = paimon_gen.model_states(case, commits)
    strata_write_case(strata_bin, warehouse, tmp_path, case, commits)
    catalog = moto.pypaimon_catalog(warehouse)
    for k in range(1, case.snapshots + 1):
        check_snapshot(strata_bin, warehouse, catalog, case, k, states[k - 1])


def test_racing_writers_on_s3(strata_bin, moto, tmp_path):
    warehouse = moto.warehouse("race")
    crash.make_table(strata_bin, tmp_path, warehouse)
    crash.racing_writers(strata_bin, tmp_path, warehouse, moto.snapshots, 15)


def test_killed_writers_on_s3(strata_bin, moto, tmp_path):
    warehouse = moto.warehouse("crash")
    crash.make_table(strata_bin, tmp_path, warehouse)
    crash.killed_writers(strata_bin, tmp_path, warehouse, moto.snapshots, 12, max_sleep=1.0)


def test_serve_and_its_compactor_use_the_config_files_s3_settings(strata_bin, moto, tmp_path):
    """`strata serve` with only a config file (no AWS_* variables) serves an S3 warehouse:
    the catalog lists and loads a Strata table written there, and its embedded compactor
    compacts it on S3."""
    import urllib.request

    warehouse = moto.warehouse("serve")
    # write-only: compaction is left to the server's compactor.
    schema = dict(crash.SCHEMA, options={"bucket": "2", "write-only": "true"})
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    crash.strata(strata_bin, warehouse, "db", "create", "db")
    crash.strata(strata_bin, warehouse, "table", "create", "db.t", "--schema",
                 str(tmp_path / "schema.json"))
    # More sorted runs than num-sorted-run.compaction-trigger (5).
    for n in range(7):
        src = tmp_path / ("serve-%d.jsonl" % n)
        src.write_text("".join(json.dumps({"p": "a", "k": i, "v": "c%d" % n}) + "\n"
                               for i in range(20)))
        proc = subprocess.run([strata_bin, "--warehouse", warehouse, "write", "db.t", "--input",
                               str(src), "--format", "jsonl"], capture_output=True, text=True,
                              env=crash.env_for(strata_bin), timeout=120)
        assert proc.returncode == 0, proc.stderr
    config = tmp_path / "strata.toml"
    config.write_text('warehouse = "%s"\n\n[s3]\nendpoint = "%s"\nregion = "us-east-1"\n'
                      'access_key_id = "test"\nsecret_access_key = "test"\nallow_http = true\n'
                      % (warehouse, moto.endpoint))
    env = {k: v for k, v in crash.env_for(strata_bin).items() if not k.startswith("AWS_")}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    proc = subprocess.Popen([strata_bin, "--config", str(config), "serve", "--bind", "127.0.0.1:0",
                             "--compactor-poll-interval", "100ms"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            stdin=subprocess.DEVNULL)
    try:
        line = proc.stdout.readline()
        assert " on http://" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        url = line.strip().rsplit(" on ", 1)[1]
        with urllib.request.urlopen(url + "/v1/namespaces/db/tables", timeout=30) as r:
            names = [t["name"] for t in json.load(r)["identifiers"]]
        assert names == ["t"]
        with urllib.request.urlopen(url + "/v1/namespaces/db/tables/t", timeout=30) as r:
            loaded = json.load(r)
        assert loaded["metadata-location"].startswith(warehouse + "/"), loaded["metadata-location"]
        # The compactor, on S3 through the same settings, leaves a COMPACT snapshot.
        deadline = time.time() + 60
        while not any(s.get("commitKind") == "COMPACT" for s in moto.snapshots(warehouse).values()):
            if time.time() > deadline or proc.poll() is not None:
                proc.terminate()
                pytest.fail("the compactor did not compact: %s" % proc.communicate(timeout=30)[1][-3000:])
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)


def test_sql_on_s3(strata_bin, moto, tmp_path):
    warehouse = moto.warehouse("sql")
    test_sql.check_sql_equals_read(strata_bin, test_sql.make_tables(strata_bin, tmp_path,
                                                                     warehouse))


def _pypaimon_rows(moto, warehouse, table):
    t = moto.pypaimon_catalog(warehouse).get_table(table)
    rb = t.new_read_builder()
    return evolution.parse(canonical.render_arrow_table(
        rb.new_read().to_arrow(rb.new_scan().plan().splits())))


def test_schema_evolution_on_s3(strata_bin, moto, tmp_path):
    warehouse, want = evolution.build_evolved(strata_bin, tmp_path, moto.warehouse("evolved"))
    got = evolution.parse(crash.strata(strata_bin, warehouse, "read", "db.t").splitlines())
    assert evolution.by_key(got) == want
    got = evolution.parse(crash.strata(strata_bin, warehouse, "sql", "SELECT * FROM db.t",
                                       "--output-format", "jsonl").splitlines())
    assert evolution.by_key(got) == want
    assert evolution.by_key(_pypaimon_rows(moto, warehouse, "db.t")) == want


def test_compaction_on_s3(strata_bin, moto, tmp_path):
    warehouse, want = evolution.build_evolved(strata_bin, tmp_path, moto.warehouse("compact"))
    before = len(moto.snapshots_of(warehouse, "db.t"))
    crash.strata(strata_bin, warehouse, "compact", "db.t", "--full")
    snapshots = moto.snapshots_of(warehouse, "db.t")
    added = [snapshots[i]["commitKind"] for i in sorted(snapshots) if i > before]
    assert added and set(added) == {"COMPACT"}, added
    got = evolution.parse(crash.strata(strata_bin, warehouse, "read", "db.t").splitlines())
    assert evolution.by_key(got) == want
    assert evolution.by_key(_pypaimon_rows(moto, warehouse, "db.t")) == want


@pytest.fixture
def no_conditional_put(moto, monkeypatch):
    """The strata commands of a test treat the store as lacking conditional PUT (as a
    Ceph RGW release that ignores `If-None-Match: *`)."""
    monkeypatch.setenv("AWS_CONDITIONAL_PUT", "disabled")
    monkeypatch.delenv("STRATA_COMMIT_CATALOG", raising=False)


@pytest.fixture
def sole_committer(strata_bin, moto, no_conditional_put, monkeypatch):
    """`strata serve` as the only committer of a fresh warehouse on that store; the other
    strata commands commit through it (STRATA_COMMIT_CATALOG). Yields the warehouse."""
    warehouse = moto.warehouse("rgw")
    proc = subprocess.Popen([strata_bin, "--warehouse", warehouse, "serve", "--bind",
                             "127.0.0.1:0", "--no-compactor"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=crash.env_for(strata_bin), stdin=subprocess.DEVNULL)
    try:
        line = proc.stdout.readline()
        assert " on http://" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        monkeypatch.setenv("STRATA_COMMIT_CATALOG", line.strip().rsplit(" on ", 1)[1])
        yield warehouse
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_store_without_conditional_put_refuses_direct_commits(strata_bin, moto, tmp_path,
                                                                no_conditional_put):
    warehouse = moto.warehouse("no-cas")
    proc = subprocess.run([strata_bin, "--warehouse", warehouse, "db", "create", "db"],
                          capture_output=True, text=True, env=crash.env_for(strata_bin),
                          timeout=120)
    assert proc.returncode != 0
    assert "no conditional PUT" in proc.stderr and "commit through the catalog" in proc.stderr, \
        proc.stderr
    listed = moto.client().list_objects_v2(Bucket=BUCKET, Prefix=warehouse.split("/", 3)[3])
    assert listed.get("KeyCount", 0) == 0, listed


def test_racing_writers_through_the_catalog(strata_bin, moto, tmp_path, sole_committer):
    """The same four racing writers (and their own compactions) on a store without
    conditional PUT: every commit goes through `strata serve`, none is lost or doubled."""
    crash.make_table(strata_bin, tmp_path, sole_committer)
    crash.racing_writers(strata_bin, tmp_path, sole_committer, moto.snapshots, 10)
    def triples(rows):
        return sorted((r["p"], r["k"], r["v"]) for r in rows)

    strata_rows = crash.read_rows(strata_bin, sole_committer)
    assert len(strata_rows) == 40
    assert triples(_pypaimon_rows(moto, sole_committer, "db.t")) == triples(strata_rows)
    # Every create went through the server: the database marker, schema-0 and each snapshot.
    import urllib.request

    with urllib.request.urlopen(os.environ["STRATA_COMMIT_CATALOG"] + "/metrics", timeout=30) as r:
        metrics = r.read().decode()
    created = [line for line in metrics.splitlines() if line.startswith(
        'strata_catalog_requests_total{method="POST",route="/strata/v1/publish",status="201"}')]
    assert created and int(created[0].rsplit(" ", 1)[1]) == 2 + len(moto.snapshots(sole_committer)), \
        created


def test_killed_writers_through_the_catalog(strata_bin, moto, tmp_path, sole_committer):
    crash.make_table(strata_bin, tmp_path, sole_committer)
    crash.killed_writers(strata_bin, tmp_path, sole_committer, moto.snapshots, 9, max_sleep=1.0)
