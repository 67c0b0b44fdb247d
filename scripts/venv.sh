# Sourced by scripts/test and scripts/quickstart: the Python venv with the pinned clients.
# Sets VENV; ensure_venv creates or reuses it.
VENV="${STRATA_VENV:-$ROOT/.venv}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
REQUIREMENTS="$ROOT/tests/conformance/requirements.txt"
STAMP="$VENV/.strata-requirements.txt"
BOOTSTRAP_PYTHON="${PYTHON:-python3}"

venv_ok() {
    [ -x "$VENV/bin/python" ] || return 1
    "$VENV/bin/python" -c 'import sys; sys.exit(0 if sys.prefix != sys.base_prefix else 1)' \
        >/dev/null 2>&1 || return 1
}

deps_ok() {
    [ -f "$STAMP" ] && cmp -s "$STAMP" "$REQUIREMENTS" || return 1
    "$VENV/bin/python" -c 'import pypaimon, pyarrow, pytest, moto, boto3, pypaimon_rust, pyiceberg, duckdb, pyspark, schemathesis, snowpark_connect_deps_iceberg, datasketches' >/dev/null 2>&1 || return 1
}

ensure_venv() {
    if ! venv_ok; then
        command -v "$BOOTSTRAP_PYTHON" >/dev/null 2>&1 || {
            echo "no '$BOOTSTRAP_PYTHON' to create the venv with (set PYTHON=/path/to/python3)" >&2
            return 1
        }
        echo "creating venv $VENV with $("$BOOTSTRAP_PYTHON" --version 2>&1)"
        rm -rf "$VENV"
        "$BOOTSTRAP_PYTHON" -m venv "$VENV"
    fi
    if deps_ok; then
        echo "reusing venv $VENV (requirements unchanged)"
    else
        echo "installing pinned packages from ${REQUIREMENTS#"$ROOT"/}"
        rm -f "$STAMP"
        "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$REQUIREMENTS"
        cp "$REQUIREMENTS" "$STAMP"
    fi
}
