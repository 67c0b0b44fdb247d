"""Peers of strata-bench: the `paimon` crate 0.4.0 (through pypaimon-rust) and pure-Python
pypaimon 2.1.0 writing the same rows into a table Strata created.

    python peer.py (paimon-crate|pypaimon) WAREHOUSE TABLE COMMIT.parquet [COMMIT.parquet ...]

Each Parquet file is one commit, read into memory before timing starts. Prints one JSON
object: CPU seconds of this process (all threads, user + system), wall seconds and rows.
"""

import json
import os
import resource
import sys
import time

import pyarrow.parquet as pq


def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    # strata-bench --user-cpu: user time alone, as Strata's side counts it.
    if os.environ.get("STRATA_BENCH_USER_CPU"):
        return u.ru_utime
    return u.ru_utime + u.ru_stime


def paimon_crate(warehouse, name, commits):
    from pypaimon_rust.datafusion import PaimonCatalog

    table = PaimonCatalog({"warehouse": warehouse}).get_table(name)
    for batches in commits:
        builder = table.new_batch_write_builder()
        write = builder.new_write()
        for b in batches:
            write.write_arrow(b)
        messages = write.prepare_commit()
        commit = builder.new_commit()
        commit.commit(messages)
        commit.close()


def pypaimon(warehouse, name, commits):
    import pyarrow as pa
    from pypaimon import CatalogFactory

    table = CatalogFactory.create({"warehouse": warehouse}).get_table(name)
    for batches in commits:
        builder = table.new_batch_write_builder()
        write, commit = builder.new_write(), builder.new_commit()
        write.write_arrow(pa.Table.from_batches(batches))
        commit.commit(write.prepare_commit())
        write.close()
        commit.close()


def main(argv):
    peer, warehouse, name, files = argv[1], argv[2], argv[3], argv[4:]
    commits = [pq.read_table(f).to_batches(max_chunksize=8192) for f in files]
    rows = sum(b.num_rows for c in commits for b in c)
    run = {"paimon-crate": paimon_crate, "pypaimon": pypaimon}[peer]
    start_cpu, start_wall = cpu(), time.monotonic()
    run(warehouse, name, commits)
    print(json.dumps({"cpu_seconds": cpu() - start_cpu,
                      "wall_seconds": time.monotonic() - start_wall, "rows": rows}))


if __name__ == "__main__":
    main(sys.argv)
