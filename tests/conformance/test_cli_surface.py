"""The everyday surface of the `strata` command: the TOML config file (`--config`,
`STRATA_CONFIG`) and its precedence under flags and environment variables, JSON logs
(`STRATA_LOG_FORMAT=json`), progress only on a terminal (never on stdout, never in a pipe),
and the interactive `strata sql` prompt driven through a pseudo-terminal.
"""

import json
import os
import pty
import select
import subprocess
import time

from conftest import strata_env

SCHEMA = {"fields": [{"name": "k", "type": "BIGINT"}, {"name": "v", "type": "STRING"}],
          "primaryKeys": ["k"]}


def run(strata_bin, args, env=None, cwd=None):
    e = strata_env()
    e.pop("STRATA_CONFIG", None)
    e.update(env or {})
    return subprocess.run([strata_bin] + args, capture_output=True, text=True, env=e,
                          cwd=cwd, stdin=subprocess.DEVNULL, timeout=120)


def make(strata_bin, tmp_path, warehouse):
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(SCHEMA))
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"k": i, "v": "v%d" % i}) + "\n" for i in range(100)))
    for args in (["db", "create", "db"], ["table", "create", "db.t", "--schema", str(schema)],
                 ["write", "db.t", "--input", str(rows)]):
        p = run(strata_bin, ["--warehouse", str(warehouse)] + args)
        assert p.returncode == 0, p.stderr
    return rows


def test_config_file_and_its_precedence(strata_bin, tmp_path):
    from_file = tmp_path / "from-file"
    from_env = tmp_path / "from-env"
    make(strata_bin, tmp_path, from_file)
    config = tmp_path / "strata.toml"
    config.write_text('warehouse = "%s"\n[log]\nlevel = "warn"\n' % from_file)
    # The file's warehouse, by flag and by STRATA_CONFIG.
    for args, env in ((["--config", str(config)], {}), ([], {"STRATA_CONFIG": str(config)})):
        p = run(strata_bin, args + ["table", "list", "db"], env, cwd=str(tmp_path))
        assert p.returncode == 0 and p.stdout == "t\n", p.stderr
    # STRATA_WAREHOUSE beats the file, --warehouse beats both.
    p = run(strata_bin, ["--config", str(config), "db", "list"],
            {"STRATA_WAREHOUSE": str(from_env)}, cwd=str(tmp_path))
    assert p.returncode == 0 and p.stdout == "", p.stdout
    p = run(strata_bin, ["--config", str(config), "--warehouse", str(from_file), "db", "list"],
            {"STRATA_WAREHOUSE": str(from_env)}, cwd=str(tmp_path))
    assert p.stdout == "db\n"
    # Bad files fail with one line naming the file.
    bad = tmp_path / "bad.toml"
    for text, words in (('warehouse = \n', "bad.toml"), ('colour = "blue"\n', "colour"),
                        ('[log]\nformat = "xml"\n', "xml")):
        bad.write_text(text)
        p = run(strata_bin, ["--config", str(bad), "db", "list"], cwd=str(tmp_path))
        lines = [x for x in p.stderr.splitlines() if x.strip()]
        assert p.returncode != 0 and len(lines) == 1 and words in lines[0], p.stderr
    p = run(strata_bin, ["--config", str(tmp_path / "missing.toml"), "db", "list"])
    assert p.returncode != 0 and "missing.toml" in p.stderr


def test_json_logs(strata_bin, tmp_path):
    warehouse = tmp_path / "wh"
    rows = make(strata_bin, tmp_path, warehouse)
    p = run(strata_bin, ["--warehouse", str(warehouse), "write", "db.t", "--input", str(rows)],
            {"STRATA_LOG": "strata_format=debug", "STRATA_LOG_FORMAT": "json"})
    assert p.returncode == 0, p.stderr
    events = [json.loads(line) for line in p.stderr.splitlines() if line.strip()]
    commits = [e for e in events if e.get("fields", {}).get("message") == "committed"]
    assert len(commits) == 1 and commits[0]["level"] == "DEBUG", events
    assert commits[0]["fields"]["snapshot"] == 2
    # stdout is only the command's summary.
    assert p.stdout.startswith("wrote 100 rows to db.t")


def read_until(fd, needle, timeout=60):
    out = b""
    deadline = time.time() + timeout
    while needle not in out and time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return out


def test_progress_only_on_a_terminal(strata_bin, tmp_path):
    warehouse = tmp_path / "wh"
    rows = make(strata_bin, tmp_path, warehouse)
    # Piped: no progress anywhere.
    p = run(strata_bin, ["--warehouse", str(warehouse), "write", "db.t", "--input", str(rows)])
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert p.stdout.count("\n") == 1
    # stderr on a terminal: the spinner is drawn there, stdout stays clean.
    master, slave = pty.openpty()
    proc = subprocess.Popen([strata_bin, "--warehouse", str(warehouse), "write", "db.t",
                             "--input", str(rows)], stdout=subprocess.PIPE, stderr=slave,
                            stdin=subprocess.DEVNULL, env=strata_env())
    os.close(slave)
    seen = read_until(master, b"rows")
    out, _ = proc.communicate(timeout=120)
    os.close(master)
    assert proc.returncode == 0
    assert b"writing db.t" in seen, seen
    assert out.decode().startswith("wrote 100 rows to db.t") and "\x1b" not in out.decode()


def test_interactive_sql_prompt(strata_bin, tmp_path):
    warehouse = tmp_path / "wh"
    make(strata_bin, tmp_path, warehouse)
    env = strata_env()
    env["HOME"] = str(tmp_path)
    master, slave = pty.openpty()
    proc = subprocess.Popen([strata_bin, "--warehouse", str(warehouse), "sql"], stdin=slave,
                            stdout=slave, stderr=slave, env=env)
    os.close(slave)
    try:
        assert b"strata> " in read_until(master, b"strata> ")
        # A statement over two lines, then a failing one: the prompt carries on.
        os.write(master, b"SELECT COUNT(*) AS n,\r")
        read_until(master, b"...> ")
        os.write(master, b" MAX(k) AS hi FROM db.t;\r")
        # Up to the next prompt, so that nothing of this answer is left for the next read.
        out = read_until(master, b"strata> ")
        assert b"| 100 | 99 |" in out and b"rows in" in out, out
        os.write(master, b"SELECT * FROM db.missing;\r")
        out = read_until(master, b"strata> ")
        assert b"error:" in out and b"missing" in out, out
        os.write(master, b"\x04")  # Ctrl-D ends the prompt
        proc.wait(timeout=30)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    history = (tmp_path / ".strata_history").read_text()
    assert "MAX(k) AS hi FROM db.t;" in history
