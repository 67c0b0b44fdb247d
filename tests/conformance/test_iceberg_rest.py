"""`strata serve` driven by the real Iceberg clients: pyiceberg 0.12, DuckDB 1.5.5 with its
iceberg extension, Spark 3.5 with the Iceberg 1.10.2 runtime (one session for the module),
and a schemathesis run against the REST spec.

Strata tables are compared with `strata read` after `strata compact DB.T --full`.
"""

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading

import pytest

import iceberg_clients
from conftest import run_strata, strata_env

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = os.path.join(HERE, "..", "..", "..", "shared", "spec", "iceberg-rest-catalog-open-api.yaml")


class Served:
    def __init__(self, proc, url, warehouse, log=None):
        self.proc = proc
        self.url = url
        self.warehouse = warehouse
        self.log = log


def start_server(strata_bin, warehouse, *extra, compactor=False):
    """Starts `strata serve` on a free port (without its compactor unless `compactor`);
    returns once it printed its address."""
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(
        [strata_bin, "--warehouse", str(warehouse), "serve", "--bind", "127.0.0.1:0"]
        + ([] if compactor else ["--no-compactor"]) + list(extra),
        stdout=subprocess.PIPE, stderr=log, text=True, env=strata_env(),
        stdin=subprocess.DEVNULL)
    lines = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=30)
    except queue.Empty:
        proc.kill()
        pytest.fail("strata serve printed no address within 30 s", pytrace=False)
    if " on http://" not in line:
        proc.kill()
        log.seek(0)
        pytest.fail("strata serve did not start: %r %s" % (line, log.read()), pytrace=False)
    return Served(proc, line.strip().rsplit(" on ", 1)[1], str(warehouse), log)


def stop_server(served):
    served.proc.terminate()
    try:
        served.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        served.proc.kill()


@pytest.fixture(scope="module")
def server(strata_bin, tmp_path_factory):
    warehouse = tmp_path_factory.mktemp("iceberg_rest") / "warehouse"
    warehouse.mkdir()
    served = start_server(strata_bin, warehouse)
    yield served
    stop_server(served)


@pytest.fixture(scope="module")
def spark(server):
    session = iceberg_clients.spark_session(server.url)
    yield session
    session.stop()


def strata(strata_bin, warehouse, *args, stdin=None):
    cmd = [strata_bin, "--warehouse", str(warehouse)] + list(args)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=strata_env(), input=stdin,
                          encoding="utf-8", errors="replace", timeout=300)
    assert proc.returncode == 0, "%s failed: %s" % (" ".join(args), proc.stderr)
    return proc.stdout


def sorted_rows(rows):
    return sorted((json.dumps(r, sort_keys=True, default=str) for r in rows))


# ----------------------------------------------------------------------------- pyiceberg

def test_pyiceberg_namespaces_and_plain_tables(server):
    import pyarrow as pa
    from pyiceberg.exceptions import (NamespaceAlreadyExistsError, NamespaceNotEmptyError,
                                      NoSuchTableError, TableAlreadyExistsError)

    cat = iceberg_clients.pyiceberg_catalog(server.url, server.warehouse)
    cat.create_namespace("py", {"owner": "tests"})
    assert ("py",) in cat.list_namespaces()
    assert cat.load_namespace_properties("py")["owner"] == "tests"
    with pytest.raises(NamespaceAlreadyExistsError):
        cat.create_namespace("py")
    summary = cat.update_namespace_properties("py", removals={"owner"}, updates={"team": "x"})
    assert summary.removed == ["owner"] and summary.updated == ["team"]
    assert cat.load_namespace_properties("py") == {"team": "x"}

    schema = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("v", pa.string())])
    t = cat.create_table("py.items", schema=schema)
    with pytest.raises(TableAlreadyExistsError):
        cat.create_table("py.items", schema=schema)
    t.append(pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"]}, schema=schema))
    t.append(pa.table({"id": [4], "v": ["d"]}, schema=schema))
    t = cat.load_table("py.items")
    assert len(t.metadata.snapshots) == 2
    assert t.scan().to_arrow().sort_by("id").to_pylist() == [
        {"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": "c"}, {"id": 4, "v": "d"}]
    t.delete("id = 2")
    t = cat.load_table("py.items")
    assert sorted(t.scan().to_arrow()["id"].to_pylist()) == [1, 3, 4]
    from pyiceberg.types import IntegerType

    with t.update_schema() as update:
        update.add_column("extra", IntegerType())
    assert "extra" in cat.load_table("py.items").schema().column_names

    cat.rename_table("py.items", "py.renamed")
    assert cat.table_exists("py.renamed") and not cat.table_exists("py.items")
    with pytest.raises(NoSuchTableError):
        cat.load_table("py.items")
    with pytest.raises(NamespaceNotEmptyError):
        cat.drop_namespace("py")
    cat.drop_table("py.renamed")
    assert cat.list_tables("py") == []
    cat.drop_namespace("py")
    assert ("py",) not in cat.list_namespaces()


def test_authentication_with_real_clients(strata_bin, tmp_path):
    from pyiceberg.exceptions import OAuthError, UnauthorizedError

    warehouse = tmp_path / "warehouse"
    warehouse.mkdir()
    served = start_server(strata_bin, warehouse, "--client", "etl:s3cret", "--token", "static-t")
    try:
        cat = iceberg_clients.pyiceberg_catalog(served.url, str(warehouse), credential="etl:s3cret")
        cat.create_namespace("secure")
        assert ("secure",) in cat.list_namespaces()
        with pytest.raises((OAuthError, UnauthorizedError)):
            iceberg_clients.pyiceberg_catalog(served.url, str(warehouse),
                                              credential="etl:wrong").list_namespaces()
        with pytest.raises(UnauthorizedError):
            iceberg_clients.pyiceberg_catalog(served.url, str(warehouse),
                                              token="not-a-token").list_namespaces()
        static = iceberg_clients.pyiceberg_catalog(served.url, str(warehouse), token="static-t")
        assert ("secure",) in static.list_namespaces()
    finally:
        stop_server(served)
    # Only the namespace the authenticated client created exists.
    assert sorted(p.name for p in warehouse.iterdir()) == ["secure.db"]


# ------------------------------------------------------------------------ Spark and DuckDB

def test_spark_plain_table_insert_delete_merge_read_by_duckdb_and_pyiceberg(server, spark):
    spark.sql("CREATE NAMESPACE IF NOT EXISTS cat.sp")
    spark.sql("CREATE TABLE cat.sp.orders (id BIGINT, qty INT, note STRING) USING iceberg "
              "PARTITIONED BY (bucket(2, id)) TBLPROPERTIES ('format-version'='2', "
              "'write.delete.mode'='merge-on-read', 'write.update.mode'='merge-on-read', "
              "'write.merge.mode'='merge-on-read')")
    spark.sql("INSERT INTO cat.sp.orders VALUES (1, 10, 'a'), (2, 20, 'b'), (3, 30, 'c'), "
              "(4, 40, 'd')")
    spark.sql("DELETE FROM cat.sp.orders WHERE id = 2")
    spark.sql("CREATE OR REPLACE TEMPORARY VIEW changes AS SELECT * FROM VALUES "
              "(3, 33, 'c2'), (5, 50, 'e') AS t(id, qty, note)")
    spark.sql("MERGE INTO cat.sp.orders o USING changes c ON o.id = c.id "
              "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *")
    expected = [[1, 10, "a"], [3, 33, "c2"], [4, 40, "d"], [5, 50, "e"]]
    got = [list(r) for r in spark.sql("SELECT * FROM cat.sp.orders ORDER BY id").collect()]
    assert got == expected

    cat = iceberg_clients.pyiceberg_catalog(server.url, server.warehouse)
    table = cat.load_table("sp.orders")
    deletes = [f for task in table.scan().plan_files() for f in task.delete_files]
    assert deletes, "merge-on-read should have left position-delete files"
    rows = table.scan().to_arrow().sort_by("id").to_pylist()
    assert [[r["id"], r["qty"], r["note"]] for r in rows] == expected

    con = iceberg_clients.duckdb_connection(server.url, server.warehouse)
    got = [list(r) for r in con.execute("SELECT * FROM cat.sp.orders ORDER BY id").fetchall()]
    assert got == expected

    spark.sql("DROP TABLE cat.sp.orders")
    assert cat.list_tables("sp") == []


def test_duckdb_reads_pyiceberg_appends(server):
    import pyarrow as pa

    cat = iceberg_clients.pyiceberg_catalog(server.url, server.warehouse)
    cat.create_namespace("dk")
    schema = pa.schema([pa.field("k", pa.int64(), nullable=False), pa.field("s", pa.string())])
    t = cat.create_table("dk.t", schema=schema)
    for i in range(3):
        t.append(pa.table({"k": [i * 10 + j for j in range(5)], "s": ["x%d" % i] * 5},
                          schema=schema))
    con = iceberg_clients.duckdb_connection(server.url, server.warehouse)
    assert con.execute("SELECT count(*), sum(k) FROM cat.dk.t").fetchone() == (15, 180)
    assert con.execute("SELECT count(DISTINCT s) FROM cat.dk.t").fetchone() == (3,)


# ----------------------------------------------------------------------------- Strata tables

ENGINES = {
    "dedupe": {"merge-engine": "deduplicate"},
    "firstrow": {"merge-engine": "first-row"},
    "partial": {"merge-engine": "partial-update"},
    "agg": {"merge-engine": "aggregation", "fields.amount.aggregate-function": "sum",
            "fields.note.aggregate-function": "last_non_null_value"},
}


def _strata_table(strata_bin, warehouse, tmp_path, name, options):
    schema = {
        "fields": [{"name": "id", "type": "BIGINT NOT NULL"},
                   {"name": "dt", "type": "STRING NOT NULL"},
                   {"name": "amount", "type": "DOUBLE"},
                   {"name": "note", "type": "STRING"}],
        "primaryKeys": ["id", "dt"], "partitionKeys": ["dt"],
        "options": dict({"bucket": "2"}, **options),
    }
    path = tmp_path / ("%s.json" % name)
    path.write_text(json.dumps(schema))
    strata(strata_bin, warehouse, "table", "create", "strata.%s" % name, "--schema", str(path))
    batches = [
        [{"id": i, "dt": "2024-01-0%d" % (1 + i % 2), "amount": float(i), "note": "n%d" % i}
         for i in range(30)],
        [{"id": i, "dt": "2024-01-0%d" % (1 + i % 2), "amount": 100.0 + i,
          "note": None if i % 2 else "u%d" % i} for i in range(0, 30, 3)],
    ]
    for b in batches:
        data = tmp_path / ("%s-%d.jsonl" % (name, len(b)))
        data.write_text("".join(json.dumps(r) + "\n" for r in b))
        strata(strata_bin, warehouse, "write", "strata.%s" % name, "--input", str(data))
    strata(strata_bin, warehouse, "compact", "strata.%s" % name, "--full")
    out = strata(strata_bin, warehouse, "read", "strata.%s" % name)
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def test_strata_tables_of_each_merge_engine_read_like_strata(strata_bin, server, spark, tmp_path):
    strata(strata_bin, server.warehouse, "db", "create", "strata", "--if-not-exists")
    cat = iceberg_clients.pyiceberg_catalog(server.url, server.warehouse)
    con = iceberg_clients.duckdb_connection(server.url, server.warehouse)
    cols = ["id", "dt", "amount", "note"]
    for name, options in ENGINES.items():
        expected = sorted_rows(_strata_table(strata_bin, server.warehouse, tmp_path, name,
                                             options))
        assert len(expected) == 30
        spark.sql("REFRESH TABLE cat.strata.%s" % name)
        got = [dict(zip(cols, r)) for r in
               spark.sql("SELECT id, dt, amount, note FROM cat.strata.%s" % name).collect()]
        assert sorted_rows(got) == expected, name
        got = cat.load_table("strata.%s" % name).scan(selected_fields=tuple(cols)).to_arrow()
        assert sorted_rows(got.to_pylist()) == expected, name
        got = [dict(zip(cols, r)) for r in
               con.execute("SELECT id, dt, amount, note FROM cat.strata.%s" % name).fetchall()]
        assert sorted_rows(got) == expected, name
    # Iceberg clients cannot write Strata tables.
    with pytest.raises(Exception) as err:
        spark.sql("INSERT INTO cat.strata.dedupe VALUES (1000, '2024-01-01', 1.0, 'x')")
    assert "Strata table" in str(err.value)


def _strata_dv_table(strata_bin, warehouse, tmp_path, name, options):
    """A deletion-vector table that keeps its vectors: load, compact, update a third of the
    keys, compact again (not --full, which would rewrite the vectors away)."""
    schema = {
        "fields": [{"name": "id", "type": "BIGINT NOT NULL"},
                   {"name": "dt", "type": "STRING NOT NULL"},
                   {"name": "amount", "type": "DOUBLE"},
                   {"name": "note", "type": "STRING"}],
        "primaryKeys": ["id", "dt"], "partitionKeys": ["dt"],
        "options": dict({"bucket": "2", "deletion-vectors.enabled": "true"}, **options),
    }
    path = tmp_path / ("%s.json" % name)
    path.write_text(json.dumps(schema))
    table = "strata.%s" % name
    strata(strata_bin, warehouse, "table", "create", table, "--schema", str(path))
    batches = [
        [{"id": i, "dt": "2024-01-0%d" % (1 + i % 2), "amount": float(i), "note": "n%d" % i}
         for i in range(30)],
        [{"id": i, "dt": "2024-01-0%d" % (1 + i % 2), "amount": 100.0 + i,
          "note": None if i % 2 else "u%d" % i} for i in range(0, 30, 3)],
    ]
    for n, b in enumerate(batches):
        data = tmp_path / ("%s-%d.jsonl" % (name, n))
        data.write_text("".join(json.dumps(r) + "\n" for r in b))
        strata(strata_bin, warehouse, "write", table, "--input", str(data))
        strata(strata_bin, warehouse, "compact", table)
    out = strata(strata_bin, warehouse, "read", table)
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def test_deletion_vectors_served_as_iceberg_v3_read_like_strata(strata_bin, server, spark,
                                                                tmp_path):
    """`metadata.iceberg.format-version` = 3 serves the vectors as Puffin deletion vectors;
    without it the table stays v2 with Parquet position deletes. Spark, pyiceberg and DuckDB
    all read both like `strata read`."""
    strata(strata_bin, server.warehouse, "db", "create", "strata", "--if-not-exists")
    cat = iceberg_clients.pyiceberg_catalog(server.url, server.warehouse)
    con = iceberg_clients.duckdb_connection(server.url, server.warehouse)
    cols = ["id", "dt", "amount", "note"]
    for name, version, delete_format in (("dv_v3", "3", "PUFFIN"), ("dv_v2", None, "PARQUET")):
        options = {"metadata.iceberg.format-version": version} if version else {}
        expected = sorted_rows(_strata_dv_table(strata_bin, server.warehouse, tmp_path, name,
                                                options))
        assert len(expected) == 30
        table = "cat.strata.%s" % name
        spark.sql("REFRESH TABLE %s" % table)
        props = dict((r[0], r[1]) for r in spark.sql("SHOW TBLPROPERTIES %s" % table).collect())
        assert props.get("format-version") == (version or "2"), props
        # The table really has deleted rows: the data files hold more rows than the table.
        deletes = spark.sql("SELECT file_format, record_count, content_offset FROM %s.delete_files"
                            % table).collect()
        assert deletes and {r[0] for r in deletes} == {delete_format}, deletes
        deleted = sum(r[1] for r in deletes)
        data_rows = spark.sql("SELECT sum(record_count) FROM %s.data_files" % table).collect()[0][0]
        assert deleted > 0 and data_rows == 30 + deleted, (deleted, data_rows)
        if version == "3":
            assert all(r[2] is not None for r in deletes), deletes
        got = [dict(zip(cols, r)) for r in
               spark.sql("SELECT id, dt, amount, note FROM %s" % table).collect()]
        assert sorted_rows(got) == expected, name
        got = cat.load_table("strata.%s" % name).scan(selected_fields=tuple(cols)).to_arrow()
        assert sorted_rows(got.to_pylist()) == expected, name
        got = [dict(zip(cols, r)) for r in
               con.execute("SELECT id, dt, amount, note FROM cat.strata.%s" % name).fetchall()]
        assert sorted_rows(got) == expected, name


# ------------------------------------------------------------------------------ schemathesis

def test_schemathesis_finds_no_server_errors(strata_bin, tmp_path):
    spec = os.path.abspath(SPEC)
    if not os.path.exists(spec):
        pytest.fail("the REST spec is missing at %s" % spec, pytrace=False)
    warehouse = tmp_path / "warehouse"
    warehouse.mkdir()
    served = start_server(strata_bin, warehouse, "--prefix", "cat")
    try:
        cat = iceberg_clients.pyiceberg_catalog(served.url, str(warehouse))
        cat.create_namespace("ns")
        import pyarrow as pa
        cat.create_table("ns.tbl", schema=pa.schema([pa.field("id", pa.int64())]))
        config = tmp_path / "schemathesis.toml"
        config.write_text('[parameters]\n"path.prefix" = "cat"\n')
        exe = shutil.which("schemathesis", path=os.path.dirname(sys.executable) + os.pathsep
                           + os.environ.get("PATH", ""))
        cmd = [exe or "schemathesis", "--config-file", str(config), "--no-color", "run", spec,
               "--url", served.url, "--checks", "not_a_server_error",
               "--phases", "examples,coverage,fuzzing", "--max-examples", "8", "--seed", "1",
               "--workers", "2", "--suppress-health-check", "all",
               "--generation-database", "none"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                              cwd=str(tmp_path), stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    finally:
        stop_server(served)
    assert served.proc.returncode is not None
