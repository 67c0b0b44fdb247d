"""The conformance and crash tests again, on a local S3-compatible server (moto, started
here on 127.0.0.1), with the same assertions as on a local warehouse. Snapshots are
published by conditional PUT (`If-None-Match: *`), which moto honours.

- `strata table create` + `strata write` of generator cases, each snapshot read by
  pypaimon 2.1.0 from S3 (pyarrow's S3 file system with an endpoint override) and by
  `strata read`, both equal to the model;
- four writers racing for snapshot ids;
- writers killed at random points and at failpoints: the table reads exactly its commits.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

import paimon_gen
import test_crash_and_concurrency as crash
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
        prefix = warehouse[len("s3://%s/" % BUCKET):] + "/db.db/t/snapshot/snapshot-"
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
