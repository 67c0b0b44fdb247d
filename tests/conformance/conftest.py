"""Fixtures for the Paimon conformance suite.

Environment:
  STRATA_BIN                 the strata binary under test (scripts/test sets it)
  STRATA_PYTHON              python with pypaimon 2.1.0 used to run the generator
                             (default: the python running pytest)
  STRATA_CONFORMANCE_CASES   comma-separated case names to generate (default: all);
                             tests of other cases are skipped
  STRATA_CONFORMANCE_DIR     generate into this directory (wiped first) and keep it,
                             instead of a pytest temporary directory
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import paimon_gen  # noqa: E402  (pure Python at import time; pypaimon is imported lazily)

# The case the error-handling tests copy and damage; always generated.
SCRATCH_CASE = "types_b1"


class Generated:
    def __init__(self, root, warehouse, out, cases):
        self.root = root
        self.warehouse = warehouse
        self.out = out
        self.cases = cases

    def meta(self, case):
        with open(os.path.join(self.out, case, "meta.json"), encoding="utf-8") as f:
            return json.load(f)

    def expected_path(self, case, snapshot):
        return os.path.join(self.out, case, "snapshot-%d.jsonl" % snapshot)

    def table_dir(self, case):
        return os.path.join(self.warehouse, paimon_gen.DATABASE + ".db", case)


def selected_cases():
    raw = os.environ.get("STRATA_CONFORMANCE_CASES", "").strip()
    if not raw:
        return paimon_gen.case_names()
    names = [n.strip() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if n not in paimon_gen.CASES_BY_NAME]
    if unknown:
        raise pytest.UsageError("STRATA_CONFORMANCE_CASES: unknown case(s) %s; known: %s"
                                % (unknown, paimon_gen.case_names()))
    if SCRATCH_CASE not in names:
        names.append(SCRATCH_CASE)
    return names


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """Generate the conformance tables and expected reads once per session."""
    keep = os.environ.get("STRATA_CONFORMANCE_DIR")
    if keep:
        root = os.path.abspath(keep)
        marker = os.path.join(root, ".strata-conformance")
        if os.path.isdir(root) and os.listdir(root) and not os.path.exists(marker):
            pytest.fail("STRATA_CONFORMANCE_DIR=%s is not empty and was not made by this suite; "
                        "refusing to wipe it" % root, pytrace=False)
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(root)
        open(marker, "w").close()
    else:
        root = str(tmp_path_factory.mktemp("conformance"))
    warehouse = os.path.join(root, "warehouse")
    out = os.path.join(root, "expected")
    cases = selected_cases()
    python = os.environ.get("STRATA_PYTHON") or sys.executable
    cmd = [python, os.path.join(HERE, "paimon_gen.py"), "--warehouse", warehouse, "--out", out,
           "--case"] + cases
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail("generating the conformance tables failed (exit %d):\n%s\n%s\n%s"
                    % (proc.returncode, " ".join(cmd), proc.stdout[-4000:], proc.stderr[-8000:]),
                    pytrace=False)
    return Generated(root, warehouse, out, cases)


@pytest.fixture(scope="session")
def strata_bin():
    path = os.environ.get("STRATA_BIN")
    if not path:
        pytest.fail("STRATA_BIN is not set: point it at the strata binary "
                    "(scripts/test does this after `cargo build -p strata-cli`)", pytrace=False)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail("STRATA_BIN=%s is not an executable file" % path, pytrace=False)
    return path


def strata_env():
    env = dict(os.environ)
    # Deterministic stderr: no log lines or backtraces in the one-line errors.
    for var in ("RUST_LOG", "RUST_BACKTRACE", "RUST_LIB_BACKTRACE", "STRATA_WAREHOUSE"):
        env.pop(var, None)
    return env


def run_strata(strata_bin, args, timeout=300):
    """Run strata; returns CompletedProcess (text, captured). Fails on timeout."""
    cmd = [strata_bin] + list(args)
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=strata_env(), stdin=subprocess.DEVNULL,
                              encoding="utf-8", errors="replace")
    except subprocess.TimeoutExpired:
        pytest.fail("timed out after %ss: %s" % (timeout, " ".join(cmd)), pytrace=False)
