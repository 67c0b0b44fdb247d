"""Connecting the real Iceberg clients (pyiceberg, DuckDB, Spark) to `strata serve`.

Shared by the pytest suite (test_iceberg_rest.py) and iceberg_read.py, which the Rust
integration tests run. Everything works offline: DuckDB's extensions come from their PyPI
wheels, Spark's Iceberg runtime from the snowpark-connect-deps-iceberg wheel.
"""

import glob
import os


def pyiceberg_catalog(uri, warehouse, **extra):
    from pyiceberg.catalog import load_catalog

    return load_catalog("strata", type="rest", uri=uri, warehouse=warehouse, **extra)


def _extension(name):
    module = __import__("duckdb_extension_%s" % name)
    base = os.path.dirname(module.__file__)
    found = glob.glob(os.path.join(base, "extensions", "*", "%s.duckdb_extension" % name))
    if not found:
        raise RuntimeError("no %s.duckdb_extension under %s" % (name, base))
    return found[0]


def duckdb_connection(uri, warehouse, alias="cat", token=None):
    """A DuckDB connection with the catalog attached as `alias`."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    for ext in ("avro", "httpfs", "iceberg"):
        con.execute("INSTALL '%s'" % _extension(ext))
        con.execute("LOAD %s" % ext)
    if token:
        con.execute(
            "CREATE SECRET strata_secret (TYPE iceberg, TOKEN '%s')" % token.replace("'", "''")
        )
        auth = "SECRET strata_secret"
    else:
        auth = "AUTHORIZATION_TYPE 'none'"
    con.execute(
        "ATTACH '%s' AS %s (TYPE iceberg, ENDPOINT '%s', %s)"
        % (warehouse.replace("'", "''"), alias, uri, auth)
    )
    return con


def iceberg_runtime_jar():
    import snowpark_connect_deps_iceberg

    base = os.path.dirname(snowpark_connect_deps_iceberg.__file__)
    found = glob.glob(os.path.join(base, "jars", "iceberg-spark-runtime-3.5_2.12-*.jar"))
    if not found:
        raise RuntimeError("no iceberg-spark-runtime jar under %s" % base)
    return found[0]


def spark_session(uri, catalog="cat"):
    from pyspark.sql import SparkSession

    prefix = "spark.sql.catalog.%s" % catalog
    return (
        SparkSession.builder.master("local[2]")
        .appName("strata-iceberg-rest")
        .config("spark.jars", iceberg_runtime_jar())
        .config(
            "spark.sql.extensions",
            "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        )
        .config(prefix, "org.apache.iceberg.spark.SparkCatalog")
        .config(prefix + ".type", "rest")
        .config(prefix + ".uri", uri)
        .config(prefix + ".io-impl", "org.apache.iceberg.hadoop.HadoopFileIO")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
