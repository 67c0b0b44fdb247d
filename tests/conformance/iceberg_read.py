"""Prints every row of one table read through the Iceberg REST catalog, as JSON lines.

    iceberg_read.py --engine pyiceberg|duckdb --uri URL --warehouse DIR --table NS.T

Run by the Rust integration tests (tests/it/rest_catalog) to compare with Strata's read.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import iceberg_clients  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--engine", required=True, choices=["pyiceberg", "duckdb"])
    p.add_argument("--uri", required=True)
    p.add_argument("--warehouse", required=True)
    p.add_argument("--table", required=True)
    a = p.parse_args()
    if a.engine == "pyiceberg":
        cat = iceberg_clients.pyiceberg_catalog(a.uri, a.warehouse)
        arrow = cat.load_table(a.table).scan().to_arrow()
        rows = [list(r.values()) for r in arrow.to_pylist()]
    else:
        con = iceberg_clients.duckdb_connection(a.uri, a.warehouse)
        ns, name = a.table.split(".", 1)
        rows = [list(r) for r in con.execute('SELECT * FROM cat."%s"."%s"' % (ns, name)).fetchall()]
    for r in rows:
        print(json.dumps(r, default=str))


if __name__ == "__main__":
    main()
