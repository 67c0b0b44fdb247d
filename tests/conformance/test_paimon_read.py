"""strata reads tables written by pypaimon 2.1.0 exactly as a Paimon reader does.

One test per (case, snapshot): ``strata --warehouse WH read conf.CASE --snapshot K
--output-format jsonl`` must print the same multiset of rows as the expected
file (pypaimon's read of snapshot K, checked against an independent model at
generation time). Rows are compared type-aware (see canonical.py).

Then: bad input gives one clear line on stderr, a non-zero exit and no panic.
"""

import json
import os
import shutil
from collections import Counter

import pytest

import canonical
import paimon_gen
from conftest import SCRATCH_CASE, run_strata

READ_PARAMS = [pytest.param(c.name, k, id="%s-snap%d" % (c.name, k))
               for c in paimon_gen.CASES for k in range(1, c.snapshots + 1)]
CASE_PARAMS = [pytest.param(c.name, id=c.name) for c in paimon_gen.CASES]

MAX_SHOWN = 5


def _require_case(generated, case):
    if case not in generated.cases:
        pytest.skip("case %s not generated (STRATA_CONFORMANCE_CASES)" % case)


def _load_expected(generated, case, snapshot):
    with open(generated.expected_path(case, snapshot), encoding="utf-8", newline="") as f:
        # split on "\n" only: str.splitlines() would also split inside
        # rows at U+2028, U+0085, ... which JSON strings may hold unescaped.
        return [line for line in f.read().split("\n") if line.strip()]


def _short(text, limit=600):
    return text if len(text) <= limit else text[:limit] + "...(%d chars)" % len(text)


def _parse_output(stdout, what):
    rows = []
    for n, line in enumerate(stdout.split("\n"), 1):
        if not line.strip():
            continue
        error = None
        try:
            rows.append((line, canonical.parse_json_line(line)))
        except ValueError as e:
            error = str(e)
        if error is not None:
            pytest.fail("%s: line %d of stdout is not JSON (%s): %s" % (what, n, error, _short(line)),
                        pytrace=False)
    return rows


def compare_rows(meta, expected_lines, actual_lines_parsed, what):
    """Compare as multisets of normalized rows; fail with a readable diff."""
    fields = meta["fields"]
    names = [f["name"] for f in fields]
    pk_idx = [names.index(k) for k in meta["primary_keys"]]

    def norm_all(parsed):
        out = Counter()
        text = {}
        objs = {}
        for line, obj in parsed:
            key = canonical.normalize_row(obj, fields)
            out[key] += 1
            text.setdefault(key, line)
            objs.setdefault(key, obj)
        return out, text, objs

    want, want_text, want_obj = norm_all([(line, canonical.parse_json_line(line)) for line in expected_lines])
    got, got_text, got_obj = norm_all(actual_lines_parsed)

    def col(obj, name):
        return _short(json.dumps(obj.get(name), ensure_ascii=False, default=str), 300)
    if want == got:
        return
    missing = want - got
    extra = got - want
    msg = ["%s: rows differ: expected %d rows, strata printed %d; %d expected rows missing, "
           "%d unexpected rows" % (what, sum(want.values()), sum(got.values()),
                                   sum(missing.values()), sum(extra.values()))]
    bad = [k for k in extra if any(isinstance(v, canonical.Bad) for v in k)]
    if bad:
        msg.append("malformed values in strata's output, e.g.:")
        for k in bad[:MAX_SHOWN]:
            msg.append("  %s" % [v for v in k if isinstance(v, canonical.Bad)][:3])
            msg.append("    row: %s" % _short(got_text[k]))
    extra_by_pk = {}
    for k in extra:
        if len(k) == len(names):
            extra_by_pk.setdefault(tuple(k[i] for i in pk_idx), k)
    shown = 0
    for k in sorted(missing, key=repr):
        if shown >= MAX_SHOWN:
            break
        shown += 1
        pk = tuple(k[i] for i in pk_idx)
        other = extra_by_pk.get(pk)
        if other is not None:
            diffs = ["%s: expected %s, got %s" % (names[i], col(want_obj[k], names[i]), col(got_obj[other], names[i]))
                     for i in range(len(names)) if k[i] != other[i]]
            msg.append("row with key %s differs: %s" % (dict(zip(meta["primary_keys"], pk)), "; ".join(diffs)))
        else:
            msg.append("missing: %s" % _short(want_text[k]))
    shown = 0
    paired = {tuple(k[i] for i in pk_idx) for k in missing if len(k) == len(names)}
    for k in sorted(extra, key=repr):
        if shown >= MAX_SHOWN:
            break
        if len(k) == len(names) and tuple(k[i] for i in pk_idx) in paired:
            continue
        shown += 1
        msg.append("unexpected: %s" % _short(got_text[k]))
    pytest.fail("\n".join(msg), pytrace=False)


def _read(strata_bin, generated, case, snapshot=None):
    args = ["--warehouse", generated.warehouse, "read", "%s.%s" % (paimon_gen.DATABASE, case)]
    if snapshot is not None:
        args += ["--snapshot", str(snapshot)]
    args += ["--output-format", "jsonl"]
    proc = run_strata(strata_bin, args)
    what = "strata %s" % " ".join(args)
    if proc.returncode != 0 or "panicked" in proc.stderr:
        pytest.fail("%s exited %d\nstderr:\n%s" % (what, proc.returncode, _short(proc.stderr, 4000)),
                    pytrace=False)
    return what, _parse_output(proc.stdout, what)


@pytest.mark.parametrize("case,snapshot", READ_PARAMS)
def test_read_snapshot(strata_bin, generated, case, snapshot):
    _require_case(generated, case)
    meta = generated.meta(case)
    what, rows = _read(strata_bin, generated, case, snapshot)
    compare_rows(meta, _load_expected(generated, case, snapshot), rows, what)


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_read_latest(strata_bin, generated, case):
    """Without --snapshot, read gives the latest snapshot."""
    _require_case(generated, case)
    meta = generated.meta(case)
    what, rows = _read(strata_bin, generated, case)
    compare_rows(meta, _load_expected(generated, case, meta["snapshots"]), rows, what)


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_generated_files(generated, case):
    """The generator's own output is complete and well-formed (no strata needed)."""
    _require_case(generated, case)
    meta = generated.meta(case)
    spec = paimon_gen.CASES_BY_NAME[case]
    assert meta["snapshots"] == spec.snapshots
    assert meta["identifier"] == "%s.%s" % (paimon_gen.DATABASE, case)
    assert len(meta["rows_per_snapshot"]) == spec.snapshots
    for k in range(1, spec.snapshots + 1):
        lines = _load_expected(generated, case, k)
        assert len(lines) == meta["rows_per_snapshot"][k - 1]
        for line in lines:
            row = canonical.normalize_row(canonical.parse_json_line(line), meta["fields"])
            assert not any(isinstance(v, canonical.Bad) for v in row), line
    assert os.path.isfile(os.path.join(generated.table_dir(case), "snapshot", "snapshot-%d" % spec.snapshots))


# --------------------------------------------------------------------------
# Bad input: one clear line on stderr, non-zero exit, no panic
# --------------------------------------------------------------------------


def assert_one_line_error(proc, *needles):
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    where = "exit %s, stderr:\n%s" % (proc.returncode, _short(proc.stderr, 3000))
    assert "panicked" not in proc.stderr, "strata panicked; " + where
    assert proc.returncode != 0, "expected a non-zero exit; " + where
    assert proc.returncode > 0, "killed by a signal; " + where
    assert len(lines) == 1, "expected exactly one line on stderr, got %d; %s" % (len(lines), where)
    for needle in needles:
        assert needle.lower() in lines[0].lower(), \
            "the error line should mention %r: %r" % (needle, lines[0])
    return lines[0]


@pytest.fixture
def scratch(generated, tmp_path):
    """A private copy of one generated table, free to damage."""
    meta = generated.meta(SCRATCH_CASE)
    wh = tmp_path / "warehouse"
    src = generated.table_dir(SCRATCH_CASE)
    dst = wh / (paimon_gen.DATABASE + ".db") / SCRATCH_CASE
    shutil.copytree(src, dst)
    return str(wh), str(dst), meta


def _read_latest(strata_bin, warehouse, table=SCRATCH_CASE):
    return run_strata(strata_bin, ["--warehouse", warehouse, "read",
                                   "%s.%s" % (paimon_gen.DATABASE, table), "--output-format", "jsonl"])


def _manifest_files(table_dir):
    d = os.path.join(table_dir, "manifest")
    return sorted(os.path.join(d, n) for n in os.listdir(d)
                  if n.startswith("manifest-") and not n.startswith("manifest-list-"))


def test_help(strata_bin):
    proc = run_strata(strata_bin, ["--help"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip(), "--help printed nothing"


def test_read_help(strata_bin):
    proc = run_strata(strata_bin, ["read", "--help"])
    assert proc.returncode == 0, proc.stderr
    assert "--snapshot" in proc.stdout


def test_error_missing_table(strata_bin, scratch):
    wh, _, _ = scratch
    proc = _read_latest(strata_bin, wh, table="no_such_table")
    assert_one_line_error(proc, "no_such_table")


def test_error_missing_snapshot(strata_bin, scratch):
    wh, _, meta = scratch
    proc = run_strata(strata_bin, ["--warehouse", wh, "read", meta["identifier"], "--snapshot", "999",
                                   "--output-format", "jsonl"])
    assert_one_line_error(proc, "999")


def test_error_corrupt_snapshot_json(strata_bin, scratch):
    wh, table_dir, meta = scratch
    path = os.path.join(table_dir, "snapshot", "snapshot-%d" % meta["snapshots"])
    with open(path, "wb") as f:
        f.write(b"{\"version\": 3, \"id\": garbage ]]] not json")
    proc = _read_latest(strata_bin, wh)
    assert_one_line_error(proc, "snapshot")


def test_error_truncated_manifest(strata_bin, scratch):
    wh, table_dir, _ = scratch
    for path in _manifest_files(table_dir):
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.truncate(size // 2)
    proc = _read_latest(strata_bin, wh)
    assert_one_line_error(proc, "manifest")


def test_error_garbage_manifest(strata_bin, scratch):
    wh, table_dir, _ = scratch
    for path in _manifest_files(table_dir):
        with open(path, "wb") as f:
            f.write(b"this is not an Avro object container file\x00\xff\x01" * 20)
    proc = _read_latest(strata_bin, wh)
    assert_one_line_error(proc, "manifest")


def test_error_missing_data_file(strata_bin, scratch):
    wh, table_dir, _ = scratch
    parquet = sorted(os.path.join(root, n) for root, _, names in os.walk(table_dir)
                     for n in names if n.endswith(".parquet"))
    assert parquet, "no data files in %s" % table_dir
    victim = parquet[0]
    os.remove(victim)
    proc = _read_latest(strata_bin, wh)
    assert_one_line_error(proc, os.path.basename(victim))


def test_error_unknown_type_in_schema(strata_bin, scratch):
    wh, table_dir, _ = scratch
    path = os.path.join(table_dir, "schema", "schema-0")
    with open(path, encoding="utf-8") as f:
        schema = json.load(f)
    target = next(f for f in schema["fields"] if f["name"] == "c_int")
    target["type"] = "FOO"
    with open(path, "w", encoding="utf-8") as f:
        json.dump(schema, f, indent=2)
    proc = _read_latest(strata_bin, wh)
    assert_one_line_error(proc, "FOO")


def test_error_unknown_warehouse_scheme(strata_bin):
    proc = run_strata(strata_bin, ["--warehouse", "foo://x", "read", "conf.t", "--output-format", "jsonl"])
    assert_one_line_error(proc, "foo")
