"""``sfeventlog serve ...`` as a child process, for figures that cross a process.

The database and legacy servers run in their own process, as in production,
so they do not compete with the drainer for this process's GIL.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from sfeventlog.config import Settings

_LISTENING = re.compile(r"^listening on \S+:(\d+)$")


def mariadb_env(settings: Settings) -> dict[str, str]:
    """This process's environment with the ``SHAKENFIST_MARIADB_*`` of ``settings``."""
    env = dict(os.environ)
    env.update({
        "SHAKENFIST_MARIADB_HOST": settings.mariadb_host,
        "SHAKENFIST_MARIADB_PORT": str(settings.mariadb_port),
        "SHAKENFIST_MARIADB_USER": settings.mariadb_user,
        "SHAKENFIST_MARIADB_PASSWORD": settings.mariadb_password.get_secret_value(),
        "SHAKENFIST_MARIADB_DATABASE": settings.mariadb_database,
    })
    return env


class ServeProcess:
    """``sfeventlog serve KIND --listen 127.0.0.1:0 ARGS``; ``port`` once started."""

    def __init__(self, kind: str, args: Sequence[str], *, log_path: Path,
                 env: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self.port = 0
        log = open(log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sfeventlog.cli.main", "serve", kind,
             "--listen", "127.0.0.1:0", "--metrics-port", "0", *args],
            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True,
            env=None if env is None else dict(env),
        )
        log.close()
        self._log_path = log_path
        ready = threading.Event()
        threading.Thread(target=self._read, args=(ready,), daemon=True).start()
        if not ready.wait(60) or not self.port:
            self.stop()
            tail = log_path.read_text(errors="replace")[-1500:]
            raise RuntimeError(f"sfeventlog serve {kind} did not start: {tail}")

    def _read(self, ready: threading.Event) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:  # keep reading so the pipe never fills
            match = _LISTENING.match(line.strip())
            if match:
                self.port = int(match.group(1))
                ready.set()
        ready.set()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
