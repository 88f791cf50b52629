"""Shared pieces of the delivery fault tests: emitter processes and counting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from sfeventlog.config import Settings
from tests.servers.mariadb import MariaDBServer

REPO = Path(__file__).resolve().parent.parent


def settings_env(settings: Settings, spool_dir: Path, **extra: str) -> dict[str, str]:
    """The environment that makes a child process use ``settings``."""
    env = dict(os.environ)
    for key, value in settings.model_dump().items():
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        env[f"SHAKENFIST_{key.upper()}"] = str(value)
    env["SHAKENFIST_EVENTLOG_SPOOL_DIR"] = str(spool_dir)
    env.update(extra)
    return env


class Emitter:
    """``python -m tests.emitter`` as a child process, collecting what it accepted."""

    def __init__(self, env: Mapping[str, str], *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.emitter", *args], cwd=REPO, env=dict(env),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.accepted: list[str] = []
        self.lines: list[str] = []
        self.started = threading.Event()
        self.stderr = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._err_reader = threading.Thread(target=self._read_err, daemon=True)
        self._err_reader.start()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if line.startswith("accepted "):
                self.accepted.append(line[len("accepted "):])
            else:
                self.lines.append(line)
                if line == "started":
                    self.started.set()
        self.started.set()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.wait(30)

    def wait(self, timeout: float = 180) -> int:
        # Only the reader threads touch the pipes, so no line is lost.
        self.proc.wait(timeout)
        self._reader.join(10)
        self._err_reader.join(10)
        return self.proc.returncode


def stored_messages(server: MariaDBServer, database: str) -> Counter[str]:
    rows = server.execute("SELECT message FROM events", database=database)
    return Counter(str(r[0]) for r in rows)
