"""The `paimon` crate 0.4.0 (through pypaimon-rust) reads the tables Strata writes: the
latest snapshot equals the model of the case, as pypaimon's read does in
test_strata_written.py.
"""

import pyarrow as pa
import pytest

import canonical
import paimon_gen
from test_strata_written import (
    WRITTEN_CASES,
    create_with_strata,
    render,
    strata_write_case,
)

# Strata prints TIME as Java does ("TIME(0)"), which the paimon crate parses, so every
# written case runs here (pypaimon-written tables use the bare "TIME" it rejects).
CASES = WRITTEN_CASES


@pytest.mark.parametrize("case_name", CASES)
def test_paimon_crate_reads_strata_written(strata_bin, tmp_path, case_name):
    from pypaimon_rust.datafusion import PaimonCatalog

    case = paimon_gen.CASES_BY_NAME[case_name]
    warehouse = tmp_path / "warehouse"
    create_with_strata(strata_bin, warehouse, case, tmp_path)
    commits = paimon_gen.plan_commits(case)
    states = paimon_gen.model_states(case, commits)
    strata_write_case(strata_bin, warehouse, tmp_path, case, commits)

    table = PaimonCatalog({"warehouse": str(warehouse)}).get_table(case.table)
    builder = table.new_read_builder()
    batches = builder.new_read().read(builder.new_scan().plan().splits())
    got = sorted(canonical.render_arrow_table(pa.Table.from_batches(batches)) if batches else [])
    want = sorted(render(case, states[-1]))
    if got != want:
        only_got, only_want, n_got, n_want = paimon_gen._diff(got, want)
        pytest.fail("%s: the paimon crate reads %d rows not in the model, e.g. %s; %d model "
                    "rows are missing, e.g. %s" % (case.name, n_got, only_got[:2], n_want,
                                                    only_want[:2]), pytrace=False)
