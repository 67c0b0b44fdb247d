"""Reads manifests written by Strata's Rust writer with pypaimon 2.1.0's own readers.

Usage: check_rust_manifests.py <dir>

<dir> holds `manifest-rust-0`, `manifest-list-rust-0`, `index-manifest-rust-0` and
`expected.json` (written by the Rust test `pypaimon_reads_rust_written_manifests`). The files
are copied into a fresh pypaimon table with the fixture's schema (partition dt STRING, PK
(dt, k BIGINT), bucket 2) and read through ManifestListManager, ManifestFileManager and
IndexManifestFile; every value is compared with expected.json. The Avro header schemas must
equal pypaimon's own writer schemas. Prints OK and exits 0 on success.
"""
import json
import os
import shutil
import sys
import tempfile

import fastavro
import pyarrow as pa

from pypaimon import CatalogFactory, Schema
from pypaimon.manifest.index_manifest_file import (INDEX_MANIFEST_ENTRY_SCHEMA,
                                                   IndexManifestFile)
from pypaimon.manifest.manifest_file_manager import ManifestFileManager
from pypaimon.manifest.manifest_list_manager import ManifestListManager
from pypaimon.manifest.schema.manifest_entry import MANIFEST_ENTRY_SCHEMA
from pypaimon.manifest.schema.manifest_file_meta import MANIFEST_FILE_META_SCHEMA


def check(what, got, want):
    if got != want:
        raise AssertionError(f"{what}: pypaimon read {got!r}, expected {want!r}")


def first_field(row):
    """The first field of a stats BinaryRow, None for the empty (arity 0) row."""
    return row.get_field(0) if row.arity > 0 else None


def unhex(v):
    return None if v is None else bytes.fromhex(v)


def main():
    src = sys.argv[1]
    with open(os.path.join(src, "expected.json")) as fh:
        expected = json.load(fh)

    warehouse = tempfile.mkdtemp(prefix="strata-pypaimon-check-")
    try:
        catalog = CatalogFactory.create({"warehouse": warehouse})
        catalog.create_database("default", True)
        pa_schema = pa.schema([
            pa.field("dt", pa.string(), nullable=False),
            pa.field("k", pa.int64(), nullable=False),
            pa.field("v", pa.string()),
        ])
        catalog.create_table("default.t", Schema.from_pyarrow_schema(
            pa_schema, partition_keys=["dt"], primary_keys=["dt", "k"],
            options={"bucket": "2", "file.format": "parquet"}), False)
        table = catalog.get_table("default.t")
        manifest_dir = os.path.join(warehouse, "default.db", "t", "manifest")
        os.makedirs(manifest_dir, exist_ok=True)
        for name, schema in (("manifest-rust-0", MANIFEST_ENTRY_SCHEMA),
                             ("manifest-list-rust-0", MANIFEST_FILE_META_SCHEMA),
                             ("index-manifest-rust-0", INDEX_MANIFEST_ENTRY_SCHEMA)):
            shutil.copy(os.path.join(src, name), os.path.join(manifest_dir, name))
            with open(os.path.join(src, name), "rb") as fh:
                reader = fastavro.reader(fh)
                check(f"{name} codec", reader.codec, "zstandard")
                check(f"{name} schema", json.loads(reader.metadata["avro.schema"]), schema)
                check(f"{name} record count", sum(1 for _ in reader),
                      len(expected[name.rsplit("-", 2)[0].replace("-", "_")]))

        metas = ManifestListManager(table).read("manifest-list-rust-0")
        check("manifest list length", len(metas), len(expected["manifest_list"]))
        for i, (m, want) in enumerate(zip(metas, expected["manifest_list"])):
            p = f"manifest_list[{i}]"
            for key in ("file_name", "file_size", "num_added_files", "num_deleted_files",
                        "schema_id", "min_bucket", "max_bucket", "min_level", "max_level",
                        "min_row_id", "max_row_id", "total_buckets", "extra_files"):
                check(f"{p}.{key}", getattr(m, key), want[key])
            check(f"{p}.partition_stats.null_counts", m.partition_stats.null_counts,
                  want["partition_null_counts"])
            check(f"{p}.partition_stats.min.dt", first_field(m.partition_stats.min_values),
                  want["partition_min"])
            check(f"{p}.partition_stats.max.dt", first_field(m.partition_stats.max_values),
                  want["partition_max"])

        entries = ManifestFileManager(table).read("manifest-rust-0", drop_stats=False)
        check("manifest length", len(entries), len(expected["manifest"]))
        for i, (e, want) in enumerate(zip(entries, expected["manifest"])):
            p = f"manifest[{i}]"
            check(f"{p}.kind", e.kind, want["kind"])
            check(f"{p}.partition", e.partition.values, [want["partition"]])
            check(f"{p}.bucket", e.bucket, want["bucket"])
            check(f"{p}.total_buckets", e.total_buckets, want["total_buckets"])
            f = e.file
            for key in ("file_name", "file_size", "row_count", "min_sequence_number",
                        "max_sequence_number", "schema_id", "level", "extra_files",
                        "delete_row_count", "file_source", "value_stats_cols", "external_path",
                        "first_row_id", "write_cols", "write_cols_sequences"):
                check(f"{p}.file.{key}", getattr(f, key), want[key])
            check(f"{p}.file.embedded_index", f.embedded_index, unhex(want["embedded_index"]))
            # get_millisecond() is what pypaimon writes back (creation_time_epoch_millis()
            # drops the milliseconds).
            check(f"{p}.file.creation_time",
                  None if f.creation_time is None else f.creation_time.get_millisecond(),
                  want["creation_time"])
            check(f"{p}.file.min_key", f.min_key.values, [want["min_key"]])
            check(f"{p}.file.max_key", f.max_key.values, [want["max_key"]])
            check(f"{p}.file.key_stats.null_counts", f.key_stats.null_counts,
                  want["key_null_counts"])
            check(f"{p}.file.value_stats.null_counts", f.value_stats.null_counts,
                  want["value_null_counts"])

        index = IndexManifestFile(table).read("index-manifest-rust-0")
        check("index length", len(index), len(expected["index_manifest"]))
        for i, (e, want) in enumerate(zip(index, expected["index_manifest"])):
            p = f"index_manifest[{i}]"
            check(f"{p}.kind", e.kind, want["kind"])
            check(f"{p}.partition", e.partition.values, [want["partition"]])
            check(f"{p}.bucket", e.bucket, want["bucket"])
            f = e.index_file
            for key in ("index_type", "file_name", "file_size", "row_count", "external_path"):
                check(f"{p}.{key}", getattr(f, key), want[key])
            dv = None if f.dv_ranges is None else [
                [name, m.offset, m.length, m.cardinality] for name, m in f.dv_ranges.items()]
            check(f"{p}.dv_ranges", dv, want["dv_ranges"])
            g = f.global_index_meta
            got = None if g is None else [g.row_range_start, g.row_range_end, g.index_field_id,
                                          g.extra_field_ids, g.index_meta, g.source_meta]
            want_g = want["global_index"]
            if want_g is not None:
                want_g = want_g[:4] + [unhex(want_g[4]), unhex(want_g[5])]
            check(f"{p}.global_index", got, want_g)
    finally:
        shutil.rmtree(warehouse, ignore_errors=True)
    print(f"OK: pypaimon read {len(metas)} manifest-list entries, {len(entries)} manifest "
          f"entries and {len(index)} index entries written by Strata")


if __name__ == "__main__":
    main()
