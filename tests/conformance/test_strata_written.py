"""pypaimon 2.1.0 reads the tables Strata writes, and Strata appends to pypaimon's tables.

For the generator's cases (``paimon_gen.CASES``: every primitive type, partitions, several
buckets, nested types, updates and deletes through ``rowkind.field``), the table is made
with ``strata table create`` and every commit of the case's plan is written with
``strata write`` from a JSONL file (canonical rendering, see canonical.py). Each snapshot is
then read by pypaimon and by ``strata read`` and both are compared with the case's model.

Also: deletes and updates from Debezium events; keys land in the bucket pypaimon would put
them in; pypaimon decodes Strata's file statistics and filters on keys with them; pypaimon
writes a table and Strata continues it; a failing input commits nothing of its chunk.
"""

import json
import os
import re
import pytest

import canonical
import paimon_gen
from conftest import run_strata
from test_paimon_read import _parse_output, _short, assert_one_line_error, compare_rows

# part_null needs NULL primary key parts, which Strata's CREATE TABLE forces NOT NULL.
WRITTEN_CASES = [c.name for c in paimon_gen.CASES if c.name != "part_null"]


@pytest.fixture(scope="module")
def pypaimon():
    try:
        import pypaimon as module  # noqa: F401
    except ImportError as e:
        pytest.fail("pypaimon is not importable by the python running pytest (%s); run "
                    "scripts/test or use the venv it makes" % e, pytrace=False)
    return module


def strata(strata_bin, warehouse, *args):
    proc = run_strata(strata_bin, ["--warehouse", str(warehouse)] + list(args))
    if proc.returncode != 0 or "panicked" in proc.stderr:
        pytest.fail("strata %s exited %d\nstderr:\n%s" % (" ".join(args), proc.returncode,
                                                         _short(proc.stderr, 4000)), pytrace=False)
    return proc.stdout


def create_with_strata(strata_bin, warehouse, case, tmp_path):
    """``strata table create`` with the case's schema (Paimon type JSON) and options."""
    fields = [{"name": f["name"], "type": f["type"]} for f in paimon_gen._assign_ids(case.fields)]
    schema = {"fields": fields, "primaryKeys": case.primary_keys,
              "partitionKeys": case.partition_keys, "options": case.options}
    path = tmp_path / ("%s.schema.json" % case.name)
    path.write_text(json.dumps(schema, ensure_ascii=False), encoding="utf-8")
    strata(strata_bin, warehouse, "db", "create", paimon_gen.DATABASE, "--if-not-exists")
    strata(strata_bin, warehouse, "table", "create", case.table, "--schema", str(path))


def arrow_schema(case):
    from pypaimon.schema.data_types import DataTypeParser, PyarrowFieldParser

    fields = [DataTypeParser.parse_data_field(f) for f in paimon_gen._assign_ids(case.fields)]
    return PyarrowFieldParser.from_paimon_schema(fields)


def render(case, rows):
    import pyarrow as pa

    return canonical.render_arrow_table(pa.Table.from_pylist(rows, schema=arrow_schema(case)))


def write_jsonl(strata_bin, warehouse, table, lines, path, *extra):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line + "\n")
    return strata(strata_bin, warehouse, "write", table, "--input", str(path), *extra)


def meta_of(case):
    fields = [{"name": f["name"], "type": f["type"]} for f in paimon_gen._assign_ids(case.fields)]
    return {"fields": fields, "primary_keys": case.primary_keys}


def check_snapshot(strata_bin, warehouse, catalog, case, snapshot, model_rows):
    """pypaimon's read and strata's read of one snapshot both equal the model."""
    want = sorted(render(case, model_rows))
    table = catalog.get_table(case.table)
    got = sorted(canonical.render_arrow_table(paimon_gen.read_snapshot(table, snapshot)))
    if got != want:
        # pypaimon's merging read truncates TIMESTAMP(7..9) to microseconds (see README);
        # accept exactly that difference, nothing else.
        lenient = sorted(paimon_gen._truncate_nanos(x) for x in got)
        if lenient != sorted(paimon_gen._truncate_nanos(x) for x in want):
            only_got, only_want, n_got, n_want = paimon_gen._diff(got, want)
            pytest.fail("%s snapshot %d: pypaimon reads %d rows not in the model, e.g. %s; "
                        "%d model rows are missing, e.g. %s"
                        % (case.name, snapshot, n_got, [_short(x) for x in only_got], n_want,
                           [_short(x) for x in only_want]), pytrace=False)
    args = ["read", case.table, "--snapshot", str(snapshot), "--output-format", "jsonl"]
    out = strata(strata_bin, warehouse, *args)
    compare_rows(meta_of(case), want, _parse_output(out, "strata read"), "strata " + " ".join(args))


def strata_write_case(strata_bin, warehouse, tmp_path, case, commits, first_snapshot=1):
    """Writes each commit; returns the snapshot id of each. The writer compacts its buckets
    after a commit when they need it, so COMPACT snapshots may come in between."""
    ids = []
    for k, ops in enumerate(commits, first_snapshot):
        lines = render(case, [row for _, _, row in ops])
        out = write_jsonl(strata_bin, warehouse, case.table, lines, tmp_path / ("c%d.jsonl" % k))
        m = re.fullmatch(r"wrote %d rows to %s in \d+ files?; snapshot (\d+)\n" % (
            len(lines), re.escape(case.table)), out)
        assert m, out
        ids.append(int(m.group(1)))
        assert ids[-1] >= (ids[-2] + 1 if len(ids) > 1 else k), out
    return ids


@pytest.mark.parametrize("case_name", WRITTEN_CASES)
def test_pypaimon_reads_strata_written(strata_bin, pypaimon, tmp_path, case_name):
    case = paimon_gen.CASES_BY_NAME[case_name]
    warehouse = tmp_path / "warehouse"
    create_with_strata(strata_bin, warehouse, case, tmp_path)
    commits = paimon_gen.plan_commits(case)
    states = paimon_gen.model_states(case, commits)
    ids = strata_write_case(strata_bin, warehouse, tmp_path, case, commits)
    catalog = paimon_gen.make_catalog(str(warehouse))
    for k in range(1, case.snapshots + 1):
        check_snapshot(strata_bin, warehouse, catalog, case, ids[k - 1], states[k - 1])


@pytest.mark.parametrize("case_name", ["types_b4", "part2_b2", "nested_b2"])
def test_strata_continues_a_pypaimon_table(strata_bin, pypaimon, tmp_path, case_name):
    """pypaimon creates the table and makes the first two commits; Strata writes the rest.
    Strata's sequence numbers must continue after pypaimon's, or its updates would lose."""
    case = paimon_gen.CASES_BY_NAME[case_name]
    warehouse = tmp_path / "warehouse"
    catalog = paimon_gen.make_catalog(str(warehouse))
    catalog.create_database(paimon_gen.DATABASE, True)
    table = paimon_gen._create_table(catalog, case)
    commits = paimon_gen.plan_commits(case)
    states = paimon_gen.model_states(case, commits)
    for ops in commits[:2]:
        paimon_gen._write_commit(table, [row for _, _, row in ops], case.writes_per_commit)
    ids = [1, 2] + strata_write_case(strata_bin, warehouse, tmp_path, case, commits[2:],
                                     first_snapshot=3)
    for k in range(1, case.snapshots + 1):
        check_snapshot(strata_bin, warehouse, catalog, case, ids[k - 1], states[k - 1])


def key_buckets(table, key_names):
    """{canonical key text: bucket} of every row pypaimon reads, bucket by bucket."""
    rb = table.new_read_builder()
    out = {}
    for split in rb.new_scan().plan().splits():
        arrow = rb.new_read().to_arrow([split])
        if arrow is None:
            continue
        for line in canonical.render_arrow_table(arrow.select(key_names)):
            assert line not in out, "key %s is in two buckets" % line
            out[line] = split.bucket
    return out


@pytest.mark.parametrize("case_name", ["types_b4", "part1_b3", "part2_b2", "composite_b3",
                                       "key_types_b2"])
def test_keys_land_in_pypaimons_buckets(strata_bin, pypaimon, tmp_path, case_name):
    """The same rows written by pypaimon and by Strata end in the same buckets."""
    case = paimon_gen.CASES_BY_NAME[case_name]
    commits = paimon_gen.plan_commits(case)[:1]
    # pypaimon's table
    ref_wh = tmp_path / "pypaimon"
    ref_catalog = paimon_gen.make_catalog(str(ref_wh))
    ref_catalog.create_database(paimon_gen.DATABASE, True)
    ref = paimon_gen._create_table(ref_catalog, case)
    paimon_gen._write_commit(ref, [row for _, _, row in commits[0]], 1)
    # Strata's table
    warehouse = tmp_path / "strata"
    create_with_strata(strata_bin, warehouse, case, tmp_path)
    strata_write_case(strata_bin, warehouse, tmp_path, case, commits)
    ours = paimon_gen.make_catalog(str(warehouse)).get_table(case.table)

    want = key_buckets(ref_catalog.get_table(case.table), case.primary_keys)
    got = key_buckets(ours, case.primary_keys)
    assert set(got) == set(want)
    # pypaimon hashes TIMESTAMP(7..9) keys cut to microseconds, where Java and Strata hash
    # the exact value (see README); keys with sub-microsecond digits may differ for that.
    sub_micro = re.compile(r'T\d\d:\d\d:\d\d\.\d{9}')
    differing = [k for k in got if got[k] != want[k] and not sub_micro.search(k)]
    assert not differing, "keys in other buckets than pypaimon's, e.g. %s" % [
        (k, got[k], want[k]) for k in differing[:5]]
    assert len(set(got.values())) > 1, "rows of several buckets"


def live_files(table):
    """Every live file's DataFileMeta with its statistics, as pypaimon decodes them."""
    from pypaimon.manifest.manifest_file_manager import ManifestFileManager
    from pypaimon.manifest.manifest_list_manager import ManifestListManager

    snapshot = table.snapshot_manager().get_latest_snapshot()
    manifests = ManifestListManager(table).read_all(snapshot)
    entries = ManifestFileManager(table).read_entries_parallel(manifests, drop_stats=False)
    assert all(e.kind == 0 for e in entries), "Strata's writes only add files"
    return [e.file for e in entries]


@pytest.mark.parametrize("case_name,stats_cols", [
    ("types_b4", None),
    # Nested columns have no stats; the columns that do are listed.
    ("nested_b2", ["id", "version", "op"]),
])
def test_pypaimon_decodes_stats_and_filters_by_key(strata_bin, pypaimon, tmp_path, case_name,
                                                   stats_cols):
    case = paimon_gen.CASES_BY_NAME[case_name]
    warehouse = tmp_path / "warehouse"
    create_with_strata(strata_bin, warehouse, case, tmp_path)
    commits = paimon_gen.plan_commits(case)
    states = paimon_gen.model_states(case, commits)
    strata_write_case(strata_bin, warehouse, tmp_path, case, commits)
    table = paimon_gen.make_catalog(str(warehouse)).get_table(case.table)

    files = live_files(table)
    assert files
    names = stats_cols or [f.name for f in table.table_schema.fields]
    id_col = names.index("id")
    for f in files:
        assert f.level == 0 and f.file_source == 0 and f.schema_id == 0
        assert f.value_stats_cols == stats_cols
        assert f.key_stats.null_counts == [0]
        lo, hi = f.min_key.get_field(0), f.max_key.get_field(0)
        assert f.key_stats.min_values.get_field(0) == lo <= hi
        assert f.key_stats.max_values.get_field(0) == hi
        assert f.value_stats.min_values.get_field(id_col) == lo
        assert f.value_stats.max_values.get_field(id_col) == hi
        assert len(f.value_stats.null_counts) == len(names)
        assert f.min_sequence_number <= f.max_sequence_number
        assert 0 <= f.delete_row_count <= f.row_count
        for i in range(len(names)):
            f.value_stats.min_values.get_field(i)
            f.value_stats.max_values.get_field(i)
    assert sum(f.delete_row_count for f in files) > 0, "the plan deletes rows"

    rb = table.new_read_builder()
    # A key predicate prunes files by their key stats and still finds every match.
    live = {row["id"]: row for row in states[-1]}
    wanted = sorted(live)[len(live) // 3]
    pb = rb.new_predicate_builder()
    filtered = table.new_read_builder().with_filter(pb.equal("id", wanted))
    arrow = filtered.new_read().to_arrow(filtered.new_scan().plan().splits())
    got = [r for r in canonical.render_arrow_table(arrow) if '"id":%d,' % wanted in r]
    assert got == render(case, [live[wanted]])


DEBEZIUM_FIELDS = [("region", "STRING NOT NULL"), ("id", "BIGINT NOT NULL"), ("name", "STRING"),
                   ("amount", "DECIMAL(10, 2)"), ("updated", "TIMESTAMP(3)")]


def test_debezium_updates_and_deletes(strata_bin, pypaimon, tmp_path):
    warehouse = tmp_path / "warehouse"
    schema = {"fields": [{"name": n, "type": t} for n, t in DEBEZIUM_FIELDS],
              "primaryKeys": ["region", "id"], "partitionKeys": ["region"],
              "options": {"bucket": "3"}}
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema), encoding="utf-8")
    strata(strata_bin, warehouse, "db", "create", "cdc")
    strata(strata_bin, warehouse, "table", "create", "cdc.orders", "--schema", str(path))

    def row(region, i, version):
        return {"region": region, "id": i, "name": "n%d-%d" % (i, version),
                "amount": "%d.%02d" % (i * 3 + version, version % 100),
                "updated": "2024-01-0%dT00:00:00.%03d" % (1 + version % 9, i % 999 + 1)}

    model = {}
    batches = []
    version = 0
    regions = ["eu", "us/west", "日本"]
    for commit in range(4):
        events = []
        for i in range(40):
            region = regions[(i + commit) % 3]
            key = (region, i)
            version += 1
            new = row(region, i, version)
            if key not in model:
                events.append({"op": "c" if commit else "r", "before": None, "after": new})
                model[key] = new
            elif (i + commit) % 4 == 0:
                events.append({"op": "d", "before": model[key], "after": None})
                del model[key]
            else:
                events.append({"op": "u", "before": model[key], "after": new})
                model[key] = new
        batches.append((events, dict(model)))
    catalog = paimon_gen.make_catalog(str(warehouse))
    for k, (events, state) in enumerate(batches, 1):
        p = tmp_path / ("events%d.json" % k)
        lines = [json.dumps({"payload": dict(e, source={"db": "shop"}, ts_ms=0)}) for e in events]
        p.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out = strata(strata_bin, warehouse, "write", "cdc.orders", "--input", str(p),
                     "--format", "debezium-json")
        assert out.endswith("snapshot %d\n" % k), out
        table = catalog.get_table("cdc.orders")
        arrow = paimon_gen.read_snapshot(table, k)
        got = [json.loads(x, parse_float=str) for x in canonical.render_arrow_table(arrow)]
        assert sorted((r["region"], r["id"]) for r in got) == sorted(state), "snapshot %d" % k
        for r in got:
            m = state[(r["region"], r["id"])]
            assert (r["name"], r["amount"], r["updated"]) == (m["name"], m["amount"], m["updated"])
        read = strata(strata_bin, warehouse, "read", "cdc.orders", "--snapshot", str(k))
        assert sorted(read.splitlines()) == sorted(canonical.render_arrow_table(arrow))


def test_failing_input_commits_nothing_of_its_chunk(strata_bin, pypaimon, tmp_path):
    warehouse = tmp_path / "warehouse"
    schema = {"fields": [{"name": "k", "type": "INT NOT NULL"}, {"name": "v", "type": "STRING"}],
              "primaryKeys": ["k"], "options": {"bucket": "2"}}
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema), encoding="utf-8")
    strata(strata_bin, warehouse, "db", "create", "d")
    strata(strata_bin, warehouse, "table", "create", "d.t", "--schema", str(path))
    lines = (["k,v"] + ["%d,v%d" % (i, i) for i in range(10)] + ["oops,bad"]
             + ["%d,w" % i for i in range(3)])
    csv = tmp_path / "in.csv"
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")

    write = ["--warehouse", str(warehouse), "write", "d.t", "--input", str(csv)]
    proc = run_strata(strata_bin, write)
    assert_one_line_error(proc, "line 12", "column 'k'", "nothing was committed")
    assert not os.path.exists(os.path.join(warehouse, "d.db", "t", "snapshot", "snapshot-1"))

    proc = run_strata(strata_bin, write + ["--commit-every", "4"])
    assert_one_line_error(proc, "line 12", "after row 8 were not committed",
                          "the first 8 rows stay committed (snapshots 1, 2)")
    table = paimon_gen.make_catalog(str(warehouse)).get_table("d.t")
    rows = sorted(canonical.render_arrow_table(paimon_gen.read_snapshot(table, 2)))
    assert rows == sorted('{"k":%d,"v":"v%d"}' % (i, i) for i in range(8))
    assert not os.path.exists(os.path.join(warehouse, "d.db", "t", "snapshot", "snapshot-3"))
    # Data files of the failed chunk were removed, not left as orphans.
    parquet = [n for _, _, names in os.walk(os.path.join(warehouse, "d.db", "t"))
               for n in names if n.endswith(".parquet")]
    plan = table.new_read_builder().new_scan().plan()
    assert len(parquet) == sum(len(s.files) for s in plan.splits())
