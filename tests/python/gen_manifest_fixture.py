"""Writes small pypaimon 2.1.0 tables and copies their Avro manifests as golden fixtures.

Usage: gen_manifest_fixture.py <out_dir> [<scratch_warehouse>]

pk/   table default.t: partitioned by dt, PK (dt, k), bucket=2, parquet, zstd manifests.
      snapshot 1: dt=2024-01-01 k=1,2,3 (buckets 0,0,1) and dt=2024-01-02 k=1 (bucket 0).
      snapshot 2: update dt=2024-01-01 k=2 (bucket 0, a second level-0 file).
      snapshot 3: OVERWRITE of dt=2024-01-02 (a DELETE of the old file plus an ADD).
dyn/  table default.d: PK (k), bucket=-1 (dynamic), one commit -> HASH index manifest.
dv/   an index manifest with DELETION_VECTORS ranges written by pypaimon's IndexManifestFile.
Each directory also gets data_files.json (relative data-file path -> size in bytes).
"""
import json
import os
import shutil
import sys
import tempfile

import pyarrow as pa

from pypaimon import CatalogFactory, Schema
from pypaimon.index.deletion_vector_meta import DeletionVectorMeta
from pypaimon.index.index_file_meta import IndexFileMeta
from pypaimon.manifest.index_manifest_entry import IndexManifestEntry
from pypaimon.manifest.index_manifest_file import IndexManifestFile
from pypaimon.table.row.generic_row import GenericRow


def commit(table, pa_schema, rows, overwrite=None):
    wb = table.new_batch_write_builder()
    if overwrite is not None:
        wb = wb.overwrite(overwrite)
    write = wb.new_write()
    tc = wb.new_commit()
    write.write_arrow(pa.Table.from_pylist(rows, schema=pa_schema))
    tc.commit(write.prepare_commit())
    write.close()
    tc.close()


def copy_table(table_dir, out_dir, extra=()):
    os.makedirs(out_dir, exist_ok=True)
    for sub in ("snapshot", "manifest"):
        src = os.path.join(table_dir, sub)
        for name in sorted(os.listdir(src)):
            if name in ("LATEST", "EARLIEST") or name in extra:
                continue
            shutil.copy(os.path.join(src, name), os.path.join(out_dir, name))
    data_files = {}
    for root, _, files in os.walk(table_dir):
        for f in files:
            if f.startswith("data-"):
                path = os.path.join(root, f)
                data_files[os.path.relpath(path, table_dir)] = os.path.getsize(path)
    with open(os.path.join(out_dir, "data_files.json"), "w") as fh:
        json.dump(data_files, fh, indent=1, sort_keys=True)
        fh.write("\n")


def main():
    out_dir = sys.argv[1]
    warehouse = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="pypaimon-fixture-")
    catalog = CatalogFactory.create({"warehouse": warehouse})
    catalog.create_database("default", True)

    # --- pk: fixed 2 buckets, partitioned ---
    pa_schema = pa.schema([
        pa.field("dt", pa.string(), nullable=False),
        pa.field("k", pa.int64(), nullable=False),
        pa.field("v", pa.string()),
    ])
    catalog.create_table("default.t", Schema.from_pyarrow_schema(
        pa_schema, partition_keys=["dt"], primary_keys=["dt", "k"],
        options={"bucket": "2", "file.format": "parquet"}), False)
    t = catalog.get_table("default.t")
    commit(t, pa_schema, [
        {"dt": "2024-01-01", "k": 1, "v": "a"},
        {"dt": "2024-01-01", "k": 2, "v": "b"},
        {"dt": "2024-01-01", "k": 3, "v": "c"},
        {"dt": "2024-01-02", "k": 1, "v": "d"},
    ])
    commit(t, pa_schema, [{"dt": "2024-01-01", "k": 2, "v": "b2"}])
    commit(t, pa_schema, [{"dt": "2024-01-02", "k": 5, "v": "e"}],
           overwrite={"dt": "2024-01-02"})

    # --- dv: an index manifest written by pypaimon's own writer (no table state changes) ---
    dv_entries = [
        IndexManifestEntry(
            kind=0, partition=GenericRow(["2024-01-01"], t.partition_keys_fields), bucket=0,
            index_file=IndexFileMeta(
                index_type="DELETION_VECTORS", file_name="index-dv-fixture-0", file_size=123,
                row_count=2,
                dv_ranges={
                    "data-a.parquet": DeletionVectorMeta("data-a.parquet", 1, 22, 3),
                    "data-b.parquet": DeletionVectorMeta("data-b.parquet", 31, 18, None),
                })),
        IndexManifestEntry(
            kind=1, partition=GenericRow(["2024-01-02"], t.partition_keys_fields), bucket=1,
            index_file=IndexFileMeta(
                index_type="DELETION_VECTORS", file_name="index-dv-fixture-1", file_size=45,
                row_count=0, external_path="s3://bucket/ext/index-dv-fixture-1")),
    ]
    dv_name = IndexManifestFile(t).write(dv_entries)
    t_dir = os.path.join(warehouse, "default.db", "t")
    copy_table(t_dir, os.path.join(out_dir, "pk"), extra=(dv_name,))
    os.makedirs(os.path.join(out_dir, "dv"), exist_ok=True)
    shutil.copy(os.path.join(t_dir, "manifest", dv_name), os.path.join(out_dir, "dv", dv_name))

    # --- dyn: dynamic bucket -> HASH index ---
    d_schema = pa.schema([pa.field("k", pa.int64(), nullable=False), pa.field("v", pa.string())])
    catalog.create_table("default.d", Schema.from_pyarrow_schema(
        d_schema, primary_keys=["k"], options={"bucket": "-1", "file.format": "parquet"}), False)
    d = catalog.get_table("default.d")
    commit(d, d_schema, [{"k": 1, "v": "x"}, {"k": 2, "v": "y"}, {"k": 3, "v": "z"}])
    copy_table(os.path.join(warehouse, "default.db", "d"), os.path.join(out_dir, "dyn"))
    print(warehouse)


if __name__ == "__main__":
    main()
