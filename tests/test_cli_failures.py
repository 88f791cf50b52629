"""No traceback reaches a CLI user: every command, given broken input.

Each command and subcommand is found in the argparse parser, so a new one
fails ``test_every_command_has_broken_input_cases`` until it has cases here.
Every case runs the real console script in a subprocess.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sfeventlog.cli.main import build_parser
from tests.servers.mariadb import free_port

SCRIPT = str(Path(sys.executable).with_name("sfeventlog"))

HWM_LOTS = {"SHAKENFIST_EVENTLOG_SPOOL_HIGH_WATER_MARK": "lots"}
BLANK_TRANSPORT = {"SHAKENFIST_EVENTLOG_TRANSPORT": " "}
SQLITE = "{tmp}/events.sqlite"

#: Command path -> broken cases: (argv after the top-level command, extra env,
#: the exit code expected).  {placeholders} are filled from the ``places`` fixture:
#: garbage_spool (a spool dir holding a garbage *.db), foreign_spool (one
#: holding a SQLite *.db of another schema), garbage (a file of
#: garbage bytes), afile (a regular file where a directory is expected),
#: missing (a path that does not exist), busy (a port another socket holds).
CASES: dict[str, list[tuple[list[str], dict[str, str], int]]] = {
    "transports": [
        (["--check"], BLANK_TRANSPORT, 2),
        (["--check"], {"SHAKENFIST_EVENTLOG_TRANSPORT": "databse"}, 2),
    ],
    "status": [
        (["--spool-dir", "{garbage_spool}"], {}, 1),
        (["--spool-dir", "{missing}", "--json"], {}, 1),
    ],
    "emit": [
        (["--count", "1"], HWM_LOTS, 2),
        (["--count", "1", "--event-type", ""], {}, 2),
    ],
    "deadletter list": [
        (["--spool-dir", "{foreign_spool}", "list"], {}, 1),
    ],
    "deadletter replay": [
        (["--spool-dir", "{foreign_spool}", "replay", "--all"], {}, 1),
    ],
    "deadletter purge": [
        (["purge", "--all"], HWM_LOTS, 2),
    ],
    "drain": [
        (["--once", "--metrics-port", "{busy}"], {"SHAKENFIST_EVENTLOG_TRANSPORT": "null"}, 1),
    ],
    "serve database": [
        (["database", "--listen", "127.0.0.1:0", "--sqlite", SQLITE], HWM_LOTS, 2),
        (["database", "--listen", "127.0.0.1:0", "--metrics-port", "{busy}", "--sqlite", SQLITE],
         {}, 1),
        # nan would spin the prune schedule, inf would kill its thread.
        (["database", "--listen", "127.0.0.1:0", "--sqlite", SQLITE, "--prune-every", "nan"],
         {}, 2),
        (["database", "--listen", "127.0.0.1:0", "--sqlite", SQLITE, "--prune-every", "inf"],
         {}, 2),
    ],
    "serve legacy": [
        (["legacy", "--listen", "127.0.0.1:0", "--store", "{afile}"], {}, 1),
    ],
    "legacy-events": [
        (["--store", "{garbage_legacy}"], {}, 1),
    ],
    "demo": [
        (["--count", "1"], BLANK_TRANSPORT, 2),
    ],
    "migrate": [
        ([], HWM_LOTS, 2),
    ],
    "events": [
        (["instance", "u1", "--sqlite", SQLITE], BLANK_TRANSPORT, 2),
    ],
    "bench": [
        (["--quick", "--only", "enqueue", "--tmpdir", "{afile}"], {}, 1),
    ],
    "config check": [
        (["check"], HWM_LOTS, 2),
        (["check", "--json"], BLANK_TRANSPORT, 2),
        (["check", "--connect"], {"SHAKENFIST_EVENTLOG_TRANSPORT": "sqlite",
                                  "SHAKENFIST_EVENTLOG_SQLITE_PATH": "{afile}/e.db"}, 1),
    ],
    "docs": [
        (["no-such-page"], {}, 2),
    ],
    "import-legacy": [
        (["{missing}"], {}, 2),
        (["{tmp}"], HWM_LOTS, 2),
    ],
    "prune": [
        (["--dry-run"], HWM_LOTS, 2),
        (["--sqlite", "{garbage}"], {}, 1),
    ],
}


def _leaves(parser: argparse.ArgumentParser, prefix: str = "") -> Iterator[str]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield prefix
        return
    for name, child in subs[0].choices.items():
        yield from _leaves(child, f"{prefix} {name}".strip())


def test_every_command_has_broken_input_cases() -> None:
    leaves = sorted(_leaves(build_parser()))
    assert "deadletter replay" in leaves and "serve legacy" in leaves
    assert leaves == sorted(CASES), "add broken-input cases for new commands here"


@pytest.fixture
def places(tmp_path: Path) -> Iterator[dict[str, str]]:
    tmp = tmp_path
    garbage = os.urandom(8192)
    spool = tmp / "garbage-spool"
    spool.mkdir(mode=0o700)
    (spool / "sf-api-4242.db").write_bytes(garbage)
    foreign = tmp / "foreign-spool"
    foreign.mkdir(mode=0o700)
    with sqlite3.connect(foreign / "sf-api-4243.db") as db:
        db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, body TEXT)")
        db.execute("CREATE TABLE deadletter (id INTEGER PRIMARY KEY)")
    db.close()
    (tmp / "garbage.db").write_bytes(garbage)
    legacy = tmp / "garbage-legacy"
    legacy.mkdir()
    (legacy / "eventlog.sqlite").write_bytes(garbage)
    (tmp / "afile").write_text("not a directory\n")
    (tmp / "spool").mkdir(mode=0o700)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield {
            "tmp": str(tmp), "garbage_spool": str(spool), "foreign_spool": str(foreign),
            "garbage": str(tmp / "garbage.db"),
            "garbage_legacy": str(legacy), "afile": str(tmp / "afile"),
            "missing": str(tmp / "no" / "such"), "busy": str(holder.getsockname()[1]),
        }


def _env(places: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHAKENFIST_")}
    env.update({
        "SHAKENFIST_EVENTLOG_SPOOL_DIR": f"{places['tmp']}/spool",
        "SHAKENFIST_EVENTLOG_TRANSPORT": "sqlite",
        "SHAKENFIST_EVENTLOG_SQLITE_PATH": f"{places['tmp']}/events.sqlite",
        # Nothing listens here: a command that reaches for a store fails fast.
        "SHAKENFIST_MARIADB_HOST": "127.0.0.1",
        "SHAKENFIST_MARIADB_PORT": str(free_port()),
        "SHAKENFIST_MARIADB_CONNECT_TIMEOUT": "1",
    })
    env.update({k: v.format(**places) for k, v in extra.items()})
    return env


def _assert_told_without_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip(), "a failure must say something on stderr"


@pytest.mark.parametrize(
    ("command", "argv", "env", "code"),
    [(command, argv, env, code) for command, cases in CASES.items() for argv, env, code in cases],
    ids=[f"{command}-{i}" for command, cases in CASES.items() for i in range(len(cases))],
)
def test_broken_input_gives_one_line_and_no_traceback(
    places: dict[str, str], command: str, argv: list[str], env: dict[str, str], code: int
) -> None:
    top, *path = command.split()
    assert all(word in argv for word in path), f"{command}: argv must name {path}"
    full = [SCRIPT, top, *[a.format(**places) for a in argv]]
    proc = subprocess.run(full, capture_output=True, text=True, env=_env(places, env),
                          stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode == code, (full, proc.returncode, proc.stdout, proc.stderr)
    _assert_told_without_traceback(proc)


def test_config_errors_name_the_variable(places: dict[str, str]) -> None:
    proc = subprocess.run([SCRIPT, "status"], capture_output=True, text=True,
                          env=_env(places, HWM_LOTS), timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "sfeventlog status: configuration error: SHAKENFIST_EVENTLOG_SPOOL_HIGH_WATER_MARK:"
        " Input should be a valid integer, unable to parse string as an integer (got 'lots')"
    )


@pytest.mark.parametrize("flag", ["--debug", "-v"])
def test_debug_shows_the_traceback(places: dict[str, str], flag: str) -> None:
    proc = subprocess.run([SCRIPT, flag, "migrate", "--sqlite", places["garbage"]],
                          capture_output=True, text=True, env=_env(places, {}), timeout=60)
    assert proc.returncode == 1
    assert "Traceback (most recent call last)" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("sfeventlog migrate: ")


def test_a_reader_that_goes_away_ends_quietly(places: dict[str, str]) -> None:
    # sfeventlog events ... | head -1, with more output than a pipe buffers.
    from sfeventlog.store.sqlite import SqliteEventStore
    from sfeventlog.testing.backend import make_record

    path = Path(places["tmp"]) / "many.sqlite"
    store = SqliteEventStore(path)
    store.write_batch([make_record(objects=[("instance", "busy-1")], message="m" * 400)
                       for _ in range(800)])
    store.close()
    env = _env(places, {})
    events = subprocess.Popen([SCRIPT, "events", "instance", "busy-1", "--limit", "1000",
                               "--sqlite", str(path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env)
    assert events.stdout is not None and events.stderr is not None
    first = events.stdout.readline()
    events.stdout.close()  # what head -1 does after its line
    err = events.stderr.read().decode()
    rc = events.wait(60)
    assert first.startswith(b"TIME")
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert rc == 1


def test_drain_once_keeps_to_its_timeout(places: dict[str, str], tmp_path: Path) -> None:
    from sfeventlog.payload import build_payload, encode
    from sfeventlog.spool import Spool, prepare_spool_dir, spool_path

    prepare_spool_dir(tmp_path)
    orphan = Spool(spool_path(tmp_path, "gone", 424242))
    orphan.enqueue(encode(build_payload(event_type="audit", objects=[("instance", "u")],
                                        message="m", fqdn="n")))
    orphan.close()
    env = _env(places, {
        "SHAKENFIST_EVENTLOG_SPOOL_DIR": str(tmp_path),
        "SHAKENFIST_EVENTLOG_TRANSPORT": "database",
        "SHAKENFIST_MARIADB_GATEWAY_HOSTS": "127.0.0.1",
        "SHAKENFIST_MARIADB_GATEWAY_PORT": str(free_port()),  # nothing listens
        "SHAKENFIST_MARIADB_GATEWAY_TIMEOUT": "1",
    })
    timeout = 3.0
    proc = subprocess.Popen([SCRIPT, "drain", "--once", "--drain-timeout", str(timeout)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    # Timed from the "draining ..." line, so start-up (imports) on a loaded
    # machine does not count; it was 2 x timeout before the fix.
    assert proc.stdout.readline().startswith("draining")
    started = time.monotonic()
    out, err = proc.communicate(timeout=120)
    elapsed = time.monotonic() - started
    assert proc.returncode == 1, out + err
    assert "stopped with rows left in the spool" in out
    assert elapsed <= timeout + 1.5, f"drain --once took {elapsed:.1f}s for a {timeout}s timeout"


def test_status_json_stays_json_and_unreadable_files_fail(places: dict[str, str]) -> None:
    env = _env(places, {})
    missing = subprocess.run([SCRIPT, "status", "--json", "--spool-dir", places["missing"]],
                             capture_output=True, text=True, env=env, timeout=60)
    assert missing.returncode == 1
    assert "does not exist" in json.loads(missing.stdout)["error"]
    garbage = subprocess.run([SCRIPT, "status", "--json", "--spool-dir", places["garbage_spool"]],
                             capture_output=True, text=True, env=env, timeout=60)
    assert garbage.returncode == 1
    report = json.loads(garbage.stdout)
    assert report["error"] == "1 spool file(s) unreadable"
    assert [bool(f["error"]) for f in report["files"]] == [True]
    bad_config = subprocess.run([SCRIPT, "status", "--json"], capture_output=True, text=True,
                                env=_env(places, HWM_LOTS), timeout=60)
    assert bad_config.returncode == 2
    assert "SHAKENFIST_EVENTLOG_SPOOL_HIGH_WATER_MARK" in json.loads(bad_config.stdout)["error"]


def test_each_kind_of_failure_maps_to_one_line_and_its_exit_code() -> None:
    import errno

    from pydantic import ValidationError

    from sfeventlog.cli.failures import describe
    from sfeventlog.config import Settings

    try:
        Settings(eventlog_spool_high_water_mark="lots", mariadb_password=["s3cr3t-canary"])
    except ValidationError as exc:
        config = describe(exc)
    assert config.exit_code == 2
    assert "SHAKENFIST_EVENTLOG_SPOOL_HIGH_WATER_MARK: " in config.message
    assert "SHAKENFIST_MARIADB_PASSWORD: " in config.message
    assert "s3cr3t" not in config.message, "secrets are never echoed"
    busy = describe(OSError(errno.EADDRINUSE, "Address already in use"))
    assert (busy.exit_code, busy.message) == (1, "Address already in use: choose another port")
    missing = describe(FileNotFoundError(errno.ENOENT, "No such file or directory", "/x/y"))
    assert (missing.exit_code, missing.message) == (1, "No such file or directory: /x/y")
    odd = describe(RuntimeError("two\nlines"))
    assert odd.exit_code == 1 and "\n" not in odd.message and "--debug" in odd.message
