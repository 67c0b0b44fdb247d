"""Schema evolution: `strata table alter` adds, drops and renames columns and widens types;
files written before and after the change are read together, by Strata (`strata read`,
`strata sql`) and by pypaimon 2.1.0 (which resolves columns by field id), and both equal a
Python model of the table. A time-travelled read of the old snapshot keeps the old schema.
"""

import json
from decimal import Decimal

import pytest

import canonical
import paimon_gen
from conftest import run_strata
from test_paimon_read import _short

SCHEMA = {
    "fields": [
        {"name": "k", "type": "BIGINT"},
        {"name": "a", "type": "INT"},
        {"name": "b", "type": "STRING"},
        {"name": "c", "type": "FLOAT"},
        {"name": "d", "type": "DECIMAL(10, 2)"},
        {"name": "e", "type": "VARCHAR(10)"},
        {"name": "g", "type": "STRING"},
    ],
    "primaryKeys": ["k"],
    "options": {"bucket": "2"},
}

ALTERS = [
    ["--add-column", "f", "STRING"],
    ["--rename-column", "b", "b2"],
    ["--alter-column-type", "a", "BIGINT"],
    ["--alter-column-type", "c", "DOUBLE"],
    ["--alter-column-type", "d", "DECIMAL(12, 2)"],
    ["--alter-column-type", "e", "VARCHAR(20)"],
    ["--drop-column", "g"],
]


def strata(strata_bin, warehouse, *args):
    proc = run_strata(strata_bin, ["--warehouse", str(warehouse)] + list(args))
    assert proc.returncode == 0 and "panicked" not in proc.stderr, \
        "strata %s: %s" % (" ".join(args), _short(proc.stderr, 3000))
    return proc.stdout


def old_row(i):
    return {"k": i, "a": i * 1000 - 7, "b": "b%d" % i, "c": i + 0.5, "d": "%d.25" % i,
            "e": "e%d" % i, "g": "g%d" % i}


def new_row(i):
    return {"k": i, "a": 5_000_000_000 + i, "b2": "B%d" % i, "c": i + 0.125,
            "d": "1234567890.%02d" % (i % 100), "e": "e-%d-much-longer" % i, "f": "f%d" % i}


def canonical_new(row):
    """The model row in canonical JSON (numbers exact, decimals with their scale)."""
    out = {}
    for name in ["k", "a", "b2", "c", "d", "e", "f"]:
        v = row.get(name)
        out[name] = Decimal(v) if name == "d" and v is not None else v
    return out


def parse(lines):
    return [json.loads(x, parse_float=Decimal) for x in lines if x.strip()]


@pytest.fixture(scope="module")
def evolved(tmp_path_factory, strata_bin):
    tmp = tmp_path_factory.mktemp("evolution")
    return build_evolved(strata_bin, tmp, tmp / "warehouse")


def build_evolved(strata_bin, tmp, warehouse):
    """db.t written, altered by every change of ALTERS, written again; returns
    (warehouse, the model's rows in the new schema)."""
    schema = tmp / "schema.json"
    schema.write_text(json.dumps(SCHEMA))
    strata(strata_bin, warehouse, "db", "create", "db")
    strata(strata_bin, warehouse, "table", "create", "db.t", "--schema", str(schema))
    first = tmp / "c1.jsonl"
    first.write_text("".join(json.dumps(old_row(i)) + "\n" for i in range(40)))
    strata(strata_bin, warehouse, "write", "db.t", "--input", str(first))
    for alter in ALTERS:
        out = strata(strata_bin, warehouse, "table", "alter", "db.t", *alter)
        assert out.startswith("altered table db.t"), out
    second = tmp / "c2.jsonl"
    second.write_text("".join(json.dumps(new_row(i)) + "\n" for i in range(20, 60)))
    strata(strata_bin, warehouse, "write", "db.t", "--input", str(second))
    model = {}
    for i in range(40):
        r = old_row(i)
        model[i] = {"k": i, "a": r["a"], "b2": r["b"], "c": r["c"], "d": r["d"], "e": r["e"],
                    "f": None}
    for i in range(20, 60):
        model[i] = new_row(i)
    return warehouse, [canonical_new(r) for _, r in sorted(model.items())]


def by_key(rows):
    return sorted(rows, key=lambda r: r["k"])


def test_strata_reads_old_and_new_files_together(strata_bin, evolved):
    warehouse, want = evolved
    show = json.loads(strata(strata_bin, warehouse, "table", "show", "db.t", "--json"))
    assert show["schemaId"] == len(ALTERS)
    assert [f["name"] for f in show["fields"]] == ["k", "a", "b2", "c", "d", "e", "f"]
    got = parse(strata(strata_bin, warehouse, "read", "db.t").splitlines())
    assert by_key(got) == want
    got = parse(strata(strata_bin, warehouse, "sql", "SELECT * FROM db.t",
                       "--output-format", "jsonl").splitlines())
    assert by_key(got) == want


def test_time_travel_reads_the_old_schema(strata_bin, evolved):
    warehouse, _ = evolved
    got = parse(strata(strata_bin, warehouse, "read", "db.t", "--snapshot", "1").splitlines())
    want = [{"k": i, "a": r["a"], "b": r["b"], "c": r["c"], "d": Decimal(r["d"]), "e": r["e"],
             "g": r["g"]} for i, r in ((i, old_row(i)) for i in range(40))]
    assert by_key(got) == want


def test_pypaimon_reads_the_evolved_table(strata_bin, evolved):
    warehouse, want = evolved
    catalog = paimon_gen.make_catalog(str(warehouse))
    table = catalog.get_table("db.t")
    rb = table.new_read_builder()
    arrow = rb.new_read().to_arrow(rb.new_scan().plan().splits())
    assert arrow.schema.names == ["k", "a", "b2", "c", "d", "e", "f"]
    got = parse(canonical.render_arrow_table(arrow))
    assert by_key(got) == want


def test_refused_changes_are_one_line_errors(strata_bin, evolved):
    warehouse, _ = evolved
    for args, words in [(["--drop-column", "k"], "key"),
                        (["--alter-column-type", "a", "INT"], "cannot be changed"),
                        (["--rename-column", "b2", "e"], "already exists"),
                        (["--add-column", "z", "INT NOT NULL"], "nullable"),
                        (["--drop-column", "nope"], "not a column")]:
        proc = run_strata(strata_bin, ["--warehouse", str(warehouse), "table", "alter", "db.t"]
                          + args)
        lines = [x for x in proc.stderr.splitlines() if x.strip()]
        assert proc.returncode != 0 and len(lines) == 1 and words in lines[0], proc.stderr


def test_iceberg_clients_read_old_and_new_files_over_rest(strata_bin, tmp_path):
    """The Iceberg view follows the schema: partition `old` keeps the file compacted before
    the changes (schema 0), partition `new` is written and compacted after them; Spark,
    pyiceberg and DuckDB over `strata serve` read both, by field id, equal to `strata read`."""
    import iceberg_clients
    from test_iceberg_rest import start_server, stop_server

    warehouse = tmp_path / "warehouse"
    schema = dict(SCHEMA, fields=[dict(f) for f in SCHEMA["fields"]]
                  + [{"name": "p", "type": "STRING NOT NULL"}],
                  primaryKeys=["k", "p"], partitionKeys=["p"])
    schema["fields"][0]["type"] = "BIGINT NOT NULL"
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema))
    strata(strata_bin, warehouse, "db", "create", "db")
    strata(strata_bin, warehouse, "table", "create", "db.p", "--schema", str(path))
    old = tmp_path / "old.jsonl"
    old.write_text("".join(json.dumps(dict(old_row(i), p="old")) + "\n" for i in range(30)))
    strata(strata_bin, warehouse, "write", "db.p", "--input", str(old))
    strata(strata_bin, warehouse, "compact", "db.p", "--full")
    for alter in ALTERS:
        strata(strata_bin, warehouse, "table", "alter", "db.p", *alter)
    new = tmp_path / "new.jsonl"
    new.write_text("".join(json.dumps(dict(new_row(i), p="new")) + "\n" for i in range(10, 40)))
    strata(strata_bin, warehouse, "write", "db.p", "--input", str(new))
    strata(strata_bin, warehouse, "compact", "db.p", "--full")
    # Both generations of files are live: the old partition was not rewritten.
    files = parse(strata(strata_bin, warehouse, "sql",
                         "SELECT DISTINCT partition, schema_id FROM db.\"p$files\"",
                         "--output-format", "jsonl").splitlines())
    assert sorted(("old" if "old" in f["partition"] else "new", f["schema_id"])
                  for f in files) == [("new", len(ALTERS)), ("old", 0)], files
    cols = ["k", "a", "b2", "c", "d", "e", "f", "p"]
    want = sorted(parse(strata(strata_bin, warehouse, "read", "db.p").splitlines()),
                  key=lambda r: (r["p"], r["k"]))
    assert len(want) == 60 and {r["f"] for r in want if r["p"] == "old"} == {None}

    def check(client, rows):
        got = sorted((dict(zip(cols, r)) if not isinstance(r, dict) else r for r in rows),
                     key=lambda r: (r["p"], r["k"]))
        # Decimal == float compares exactly, so widened FLOAT values must be the same number.
        assert got == want, client

    served = start_server(strata_bin, warehouse)
    try:
        select = "SELECT %s FROM cat.db.p" % ", ".join(cols)
        con = iceberg_clients.duckdb_connection(served.url, served.warehouse)
        check("duckdb", con.execute(select).fetchall())
        cat = iceberg_clients.pyiceberg_catalog(served.url, served.warehouse)
        table = cat.load_table("db.p")
        # The table's own order: `f` was added after the partition column `p`.
        assert [f.name for f in table.schema().fields] == ["k", "a", "b2", "c", "d", "e", "p", "f"]
        check("pyiceberg", table.scan(selected_fields=tuple(cols)).to_arrow().to_pylist())
        spark = iceberg_clients.spark_session(served.url)
        try:
            check("spark", [tuple(r) for r in spark.sql(select).collect()])
        finally:
            spark.stop()
    finally:
        stop_server(served)
