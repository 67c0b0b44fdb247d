"""Deletion vectors through the real clients, driven by tests/it/deletion_vectors.rs.

  read --warehouse W --table db.t --reader pypaimon|paimon-rust
      prints the table's latest rows as sorted JSON lists, one per line
  encode POSITION...
      prints pypaimon's BitmapDeletionVector bytes for the positions, as hex
  decode --index-file F --offset O --length L
      prints the positions pypaimon's DeletionVector.read finds at (F, O, L), as JSON
  decode64 HEX
      checks a bitmap64 (Iceberg deletion-vector-v1) blob's frame and CRC with zlib and
      decodes its portable 64-bit roaring body with CRoaring (pyroaring); prints JSON
"""

import argparse
import json
import os
import sys


def read_rows(warehouse, table_name, reader):
    import pyarrow as pa

    if reader == "pypaimon":
        from pypaimon.catalog.catalog_factory import CatalogFactory

        table = CatalogFactory.create({"warehouse": os.path.abspath(warehouse)}).get_table(table_name)
        rb = table.new_read_builder()
        result = rb.new_read().to_arrow(rb.new_scan().plan().splits())
    else:
        from pypaimon_rust.datafusion import PaimonCatalog

        table = PaimonCatalog({"warehouse": os.path.abspath(warehouse)}).get_table(table_name)
        rb = table.new_read_builder()
        batches = rb.new_read().read(rb.new_scan().plan().splits())
        result = pa.Table.from_batches(batches) if batches else None
    rows = [] if result is None else [list(r.values()) for r in result.to_pylist()]
    for row in sorted(rows, key=lambda r: json.dumps(r)):
        print(json.dumps(row))


def encode(positions):
    from pypaimon.deletionvectors.bitmap_deletion_vector import BitmapDeletionVector

    dv = BitmapDeletionVector()
    for p in positions:
        dv.delete(p)
    print(dv.serialize().hex())


def decode(index_file, offset, length):
    from pypaimon.common.file_io import FileIO
    from pypaimon.deletionvectors.deletion_vector import DeletionVector
    from pypaimon.table.source.deletion_file import DeletionFile

    path = os.path.abspath(index_file)
    with open(path, "rb") as f:
        if f.read(1) != b"\x01":
            sys.exit("index file does not start with version 1")
    file_io = FileIO.get("file://" + os.path.dirname(path), {})
    dv = DeletionVector.read(file_io, DeletionFile(path, offset, length))
    print(json.dumps(sorted(dv.bit_map())))


def decode64(blob_hex):
    import struct
    import zlib

    from pyroaring import BitMap64

    blob = bytes.fromhex(blob_hex)
    (size,) = struct.unpack(">i", blob[:4])
    payload = blob[4:4 + size]
    if len(blob) != size + 8:
        sys.exit("frame length %d does not match %d bytes" % (size, len(blob)))
    if struct.unpack(">I", blob[4 + size:])[0] != zlib.crc32(payload):
        sys.exit("CRC mismatch")
    if payload[:4] != bytes([0xD1, 0xD3, 0x39, 0x64]):
        sys.exit("not the deletion-vector-v1 magic")
    print(json.dumps(sorted(BitMap64.deserialize(payload[4:]))))


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("read")
    r.add_argument("--warehouse", required=True)
    r.add_argument("--table", required=True)
    r.add_argument("--reader", choices=["pypaimon", "paimon-rust"], required=True)
    e = sub.add_parser("encode")
    e.add_argument("positions", nargs="*", type=int)
    d = sub.add_parser("decode")
    d.add_argument("--index-file", required=True)
    d.add_argument("--offset", type=int, required=True)
    d.add_argument("--length", type=int, required=True)
    d64 = sub.add_parser("decode64")
    d64.add_argument("blob")
    args = parser.parse_args()
    if args.cmd == "read":
        read_rows(args.warehouse, args.table, args.reader)
    elif args.cmd == "encode":
        encode(args.positions)
    elif args.cmd == "decode":
        decode(args.index_file, args.offset, args.length)
    else:
        decode64(args.blob)


if __name__ == "__main__":
    main()
