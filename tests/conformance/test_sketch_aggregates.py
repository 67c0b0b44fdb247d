"""``hll_sketch`` and ``theta_sketch`` against Apache DataSketches' C++ library.

Sketches built by the ``datasketches`` Python binding (the C++ library, binary-compatible
with the Java library Paimon uses) are written into an aggregation table with
``strata write`` over several commits; Strata merges them (write buffer, reads). Every
snapshot's ``strata read`` values are deserialized by the C++ library again, and their
estimates are compared with the C++ library's own union of the same sketches: Theta
must retain the same hashes and theta (exact counts below 4096 distinct values), HLL agree
within the sketch's error; the paimon crate reads the same theta bytes and HLL estimates.
"""

import base64
import json
import os
import random

import pytest

from test_paimon_read import _parse_output
from test_strata_written import strata

import datasketches as ds  # noqa: E402  (a requirement; scripts/test installs it)

KEYS = 4
COMMITS = 3
ROWS_PER_COMMIT = 6


def _hll(values, rng):
    lg_k = 12
    tgt = rng.choice([ds.tgt_hll_type.HLL_4, ds.tgt_hll_type.HLL_6, ds.tgt_hll_type.HLL_8])
    s = ds.hll_sketch(lg_k, tgt)
    for v in values:
        s.update(v)
    return s.serialize_compact() if rng.random() < 0.7 else s.serialize_updatable()


def _theta(values):
    s = ds.update_theta_sketch()
    for v in values:
        s.update(v)
    return s.compact().serialize()


def test_sketches_written_by_strata_merge_like_datasketches(strata_bin, tmp_path):
    rng = random.Random(20240611)
    warehouse = tmp_path / "warehouse"
    schema = {"fields": [{"name": "k", "type": "INT NOT NULL"},
                         {"name": "uv", "type": "BYTES"},
                         {"name": "th", "type": "BYTES"}],
              "primaryKeys": ["k"], "partitionKeys": [],
              "options": {"bucket": "1", "merge-engine": "aggregation",
                          "fields.uv.aggregate-function": "hll_sketch",
                          "fields.th.aggregate-function": "theta_sketch"}}
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema), encoding="utf-8")
    strata(strata_bin, warehouse, "db", "create", "db")
    strata(strata_bin, warehouse, "table", "create", "db.t", "--schema", str(path))

    seen = {k: set() for k in range(KEYS)}
    hll_union = {k: ds.hll_union(12) for k in range(KEYS)}
    theta_union = {k: ds.theta_union() for k in range(KEYS)}
    for commit in range(1, COMMITS + 1):
        lines = []
        for _ in range(ROWS_PER_COMMIT):
            k = rng.randrange(KEYS)
            start = rng.randrange(0, 20000)
            values = list(range(start, start + rng.randrange(0, 1500)))
            h, t = _hll(values, rng), _theta(values)
            seen[k].update(values)
            hll_union[k].update(ds.hll_sketch.deserialize(h))
            theta_union[k].update(ds.compact_theta_sketch.deserialize(t))
            lines.append({"k": k, "uv": base64.b64encode(h).decode(),
                          "th": base64.b64encode(t).decode()})
        src = tmp_path / ("c%d.jsonl" % commit)
        src.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
        strata(strata_bin, warehouse, "write", "db.t", "--input", str(src), "--format", "jsonl")

        out = strata(strata_bin, warehouse, "read", "db.t", "--output-format", "jsonl")
        rows = [row for _, row in _parse_output(out, "strata read db.t")]
        got = {row["k"]: row for row in rows}
        assert set(got) == {k for k in range(KEYS) if seen[k] or k in got}
        for k, row in got.items():
            exact = len(seen[k])
            theta = ds.compact_theta_sketch.deserialize(base64.b64decode(row["th"]))
            hll = ds.hll_sketch.deserialize(base64.b64decode(row["uv"]))
            # The k smallest hashes of the union: the same sketch as the C++ union's.
            cpp_theta = theta_union[k].get_result()
            assert theta.theta64 == cpp_theta.theta64, (commit, k)
            assert sorted(theta) == sorted(cpp_theta), (commit, k)
            if exact < 4096:
                assert theta.get_estimate() == exact, (commit, k)
            cpp = hll_union[k].get_result(ds.tgt_hll_type.HLL_4)
            assert hll.lg_config_k == 12
            # Both estimate the same registers; allow the HLL's own error bounds.
            assert hll.get_lower_bound(3) <= exact <= hll.get_upper_bound(3), (commit, k)
            assert abs(hll.get_estimate() - cpp.get_estimate()) <= 0.05 * exact + 2, (commit, k)
            # The C++ library unions Strata's result with more data.
            more = ds.hll_union(12)
            more.update(hll)
            more.update(cpp)
            assert abs(more.get_result().get_estimate() - cpp.get_estimate()) <= 0.05 * exact + 2

    # The paimon crate 0.4.0 merges the same files: theta to the same bytes, HLL (whose
    # bytes and HIP estimate deviate from Java's and Strata's) to the same registers.
    crate = {row["k"]: row for row in _crate_rows(warehouse, "db.t")}
    assert sorted(crate) == sorted(got)
    for k, row in got.items():
        assert crate[k]["th"] == base64.b64decode(row["th"]), k
        ours = _hll_registers(base64.b64decode(row["uv"]))
        assert ours == _hll_registers(crate[k]["uv"]), k


def _hll_registers(data):
    """The register table of a serialized HLL sketch, as the C++ library prints it."""
    union = ds.hll_union(12)
    union.update(ds.hll_sketch.deserialize(data))
    return union.get_result(ds.tgt_hll_type.HLL_8).to_string(False, True, False, False)


# ---------------------------------------------------------------- Paimon's own bytes

VECTORS = os.path.join(os.path.dirname(__file__), "..", "..", "format", "src", "merge", "tests",
                       "data", "paimon_binary_aggs.tsv")
COLUMN = {"rbm64": "b", "hll": "h", "theta": "t"}


def _vectors():
    """(kind, acc, input, want) bytes from Paimon 1.x's Java aggregators."""
    with open(VECTORS, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    return [(kind, bytes.fromhex(a), bytes.fromhex(i), bytes.fromhex(w)) for kind, a, i, w in rows]


def _crate_rows(warehouse, table):
    import pyarrow as pa
    from pypaimon_rust.datafusion import PaimonCatalog

    t = PaimonCatalog({"warehouse": str(warehouse)}).get_table(table)
    builder = t.new_read_builder()
    batches = builder.new_read().read(builder.new_scan().plan().splits())
    return pa.Table.from_batches(batches).to_pylist() if batches else []


def _create_and_write(strata_bin, warehouse, tmp_path, table, vectors):
    """An aggregation table written with every vector's acc, then (a second commit) its
    input, row n of the table holding vector n."""
    schema = {"fields": [{"name": "k", "type": "INT NOT NULL"},
                         {"name": "b", "type": "BYTES"},
                         {"name": "h", "type": "BYTES"},
                         {"name": "t", "type": "BYTES"}],
              "primaryKeys": ["k"], "partitionKeys": [],
              "options": {"bucket": "2", "merge-engine": "aggregation", "write-only": "true",
                          "fields.b.aggregate-function": "rbm64",
                          "fields.h.aggregate-function": "hll_sketch",
                          "fields.t.aggregate-function": "theta_sketch"}}
    path = tmp_path / ("%s.json" % table)
    path.write_text(json.dumps(schema), encoding="utf-8")
    strata(strata_bin, warehouse, "table", "create", table, "--schema", str(path))
    for step in (1, 2):
        lines = [{"k": n, COLUMN[kind]: base64.b64encode(v[step - 1]).decode()}
                 for n, (kind, *v) in enumerate(vectors)]
        src = tmp_path / ("%s-%d.jsonl" % (table, step))
        src.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
        strata(strata_bin, warehouse, "write", table, "--input", str(src), "--format", "jsonl")


def test_strata_write_merges_to_paimons_bytes(strata_bin, tmp_path):
    """Each Java vector (acc, input → want) goes through ``strata write`` as two commits:
    Strata's merged read must be Paimon's bytes exactly, for rbm64, hll_sketch and
    theta_sketch. (The paimon crate cannot be the second reader here: it rejects the
    unordered and single-item compact theta sketches Java writes.)"""
    vectors = _vectors()
    assert {k for k, *_ in vectors} == set(COLUMN)
    warehouse = tmp_path / "warehouse"
    strata(strata_bin, warehouse, "db", "create", "db")
    _create_and_write(strata_bin, warehouse, tmp_path, "db.t", vectors)

    out = strata(strata_bin, warehouse, "read", "db.t", "--output-format", "jsonl")
    got = {row["k"]: row for _, row in _parse_output(out, "strata read db.t")}
    assert sorted(got) == list(range(len(vectors)))
    for n, (kind, acc, inp, want) in enumerate(vectors):
        value = base64.b64decode(got[n][COLUMN[kind]])
        assert value == want, "%s vector %d: strata %s != paimon %s" % (
            kind, n, value.hex()[:80], want.hex()[:80])

