"""The sfeventlog console script, run as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sfeventlog.cli.main import build_parser
from sfeventlog.payload import build_payload, encode
from sfeventlog.spool import Spool, prepare_spool_dir, spool_path

SCRIPT = str(Path(sys.executable).with_name("sfeventlog"))


def _run(*args: str, env: dict[str, str] | None = None, check: bool = True,
         timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([SCRIPT, *args], capture_output=True, text=True, env=full_env,
                          timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)  # type: ignore[arg-type]


@pytest.mark.parametrize("command", _subcommands())
def test_every_command_has_help_with_examples(command: str) -> None:
    proc = _run(command, "--help")
    assert "examples:" in proc.stdout
    assert "sfeventlog " + command in proc.stdout


def test_usage_errors_exit_2() -> None:
    assert _run("no-such-command", check=False).returncode == 2
    assert _run("emit", "--count", "-1", check=False).returncode == 2


def test_transports_lists_null_and_that_it_loads() -> None:
    rows = json.loads(_run("transports", "--json").stdout)
    null = next(r for r in rows if r["name"] == "null")
    assert null["target"] == "sfeventlog_transports.null:NullTransport"
    assert null["distribution"] == "sfeventlog"
    assert null["loads"] == "yes"
    assert "null" in _run("transports").stdout


def test_emit_and_drain_with_null(tmp_path: Path) -> None:
    env = {"SHAKENFIST_EVENTLOG_SPOOL_DIR": str(tmp_path),
           "SHAKENFIST_EVENTLOG_TRANSPORT": "null"}
    summary = json.loads(_run("emit", "--count", "700", "--drain", "--json", env=env).stdout)
    assert summary["accepted"] == 700
    assert summary["dropped"] == 0
    assert summary["drained_to_empty"] is True


def _spool_with(tmp_path: Path, good: int, bad: int) -> Spool:
    prepare_spool_dir(tmp_path)
    spool = Spool(spool_path(tmp_path, "gone", 424242))
    for i in range(good):
        spool.enqueue(encode(build_payload(event_type="audit", objects=[("instance", f"u{i}")],
                                           message="m", fqdn="n")))
    for i in range(bad):
        row_id = spool.dequeue_batch(1)[0][0]
        spool.move_to_deadletter(row_id, b"{}", reason="rejected", error=f"bad {i}",
                                 error_class="PermanentError", attempts=1, first_seen=0.0)
    return spool


def test_status_shows_depth_and_dead_letters(tmp_path: Path) -> None:
    spool = _spool_with(tmp_path, 12, 2)
    out = json.loads(_run("status", "--spool-dir", str(tmp_path), "--json").stdout)
    (f,) = out["files"]
    assert f["depth"] == 10
    assert f["deadletter"] == 2
    assert f["owner_alive"] is True
    spool.close()
    out = json.loads(_run("status", "--spool-dir", str(tmp_path), "--json").stdout)
    assert out["files"][0]["owner_alive"] is False
    assert "total depth: 10" in _run("status", "--spool-dir", str(tmp_path)).stdout


def test_deadletter_list_replay_purge(tmp_path: Path) -> None:
    _spool_with(tmp_path, 5, 3).close()
    d = str(tmp_path)
    rows = json.loads(_run("deadletter", "--spool-dir", d, "list", "--json").stdout)
    assert [r["error"] for r in rows] == ["bad 0", "bad 1", "bad 2"]
    assert _run("deadletter", "--spool-dir", d, "replay", check=False).returncode == 2
    assert _run("deadletter", "--spool-dir", d, "replay", "nope:1", check=False).returncode == 2
    assert "1 dead letters replayed" in _run("deadletter", "--spool-dir", d, "replay",
                                             rows[0]["id"]).stdout
    assert "2 dead letters purged" in _run("deadletter", "--spool-dir", d, "purge",
                                           "--all").stdout
    status = json.loads(_run("status", "--spool-dir", d, "--json").stdout)["files"][0]
    assert (status["depth"], status["deadletter"]) == (3, 0)


def test_drain_once_takes_over_a_dead_daemons_spool(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    _spool_with(spool_dir, 250, 0).close()
    out = tmp_path / "events.jsonl"
    env = {"SHAKENFIST_EVENTLOG_SPOOL_DIR": str(spool_dir),
           "SHAKENFIST_EVENTLOG_TRANSPORT": "jsonl", "SHAKENFIST_EVENTLOG_JSONL_PATH": str(out)}
    proc = _run("drain", "--once", env=env)
    # (The "N rows" it prints races the drainer, which may be done already.)
    assert "spool drained" in proc.stdout
    assert not list(spool_dir.glob("*.db"))
    uuids = [json.loads(line)["event_uuid"] for line in out.read_text().splitlines()]
    assert len(uuids) == len(set(uuids)) == 250


def test_drain_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    import signal
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "SHAKENFIST_EVENTLOG_SPOOL_DIR": str(tmp_path),
           "SHAKENFIST_EVENTLOG_TRANSPORT": "null"}
    proc = subprocess.Popen([SCRIPT, "drain", "--metrics-port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert "draining" in proc.stdout.readline()
    import urllib.request

    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    assert "eventlog_spool_depth" in body
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert "spool drained" in out


def test_transports_check_probes_each_store(tmp_path: Path) -> None:
    from tests.servers.mariadb import free_port

    env = {"SHAKENFIST_EVENTLOG_TRANSPORT": "sqlite",
           "SHAKENFIST_EVENTLOG_SQLITE_PATH": str(tmp_path / "events.sqlite"),
           "SHAKENFIST_MARIADB_HOST": "127.0.0.1",
           "SHAKENFIST_MARIADB_PORT": str(free_port()),
           "SHAKENFIST_MARIADB_GATEWAY_HOSTS": "127.0.0.1",
           "SHAKENFIST_MARIADB_GATEWAY_PORT": str(free_port()),
           "SHAKENFIST_MARIADB_GATEWAY_TIMEOUT": "1",
           "SHAKENFIST_EVENTLOG_NODE_IP": "127.0.0.1",
           "SHAKENFIST_EVENTLOG_API_PORT": str(free_port())}
    proc = _run("transports", "--check", "--json", env=env)
    checks = {r["name"]: r["check"] for r in json.loads(proc.stdout)}
    assert checks["sqlite"] == "ok"
    assert checks["null"] == "ok"
    for down in ("mariadb", "database", "legacy"):
        assert checks[down].startswith("failed: "), (down, checks[down])
    env["SHAKENFIST_EVENTLOG_TRANSPORT"] = "database"
    assert _run("transports", "--check", env=env, check=False).returncode == 1


def test_transports_check_of_an_unknown_transport_exits_2() -> None:
    proc = _run("transports", "--check", env={"SHAKENFIST_EVENTLOG_TRANSPORT": "databse"},
                check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "unknown transport 'databse'" in proc.stderr
    assert "Did you mean 'database'?" in proc.stderr


def test_sqlite_check_creates_nothing(tmp_path: Path) -> None:
    target = tmp_path / "new" / "events.sqlite"
    env = {"SHAKENFIST_EVENTLOG_TRANSPORT": "sqlite",
           "SHAKENFIST_EVENTLOG_SQLITE_PATH": str(target)}
    rows = json.loads(_run("transports", "--check", "--json", env=env).stdout)
    assert next(r for r in rows if r["name"] == "sqlite")["check"] == "ok"
    assert not target.exists() and not target.parent.exists()
    blocker = tmp_path / "file"
    blocker.write_text("")
    env["SHAKENFIST_EVENTLOG_SQLITE_PATH"] = str(blocker / "events.sqlite")
    proc = _run("transports", "--check", "--json", env=env, check=False)
    assert proc.returncode == 1
    check = next(r for r in json.loads(proc.stdout) if r["name"] == "sqlite")["check"]
    assert check.startswith("failed: ")
