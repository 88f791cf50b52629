"""A private, throwaway MariaDB: own data dir, own port on 127.0.0.1, own socket.

``MariaDBServer`` runs the installed ``mariadbd`` with ``--no-defaults`` so no
system configuration leaks in (the default 128 MiB buffer pool, for one),
and never touches a system MariaDB.  It is public so that a transport
author can run the contract kit against a real server::

    from sfeventlog.testing.mariadb import MariaDBServer

    with MariaDBServer(tmp_path) as server:      # installs and starts it
        database = server.create_database()
        settings = server.settings(database)     # the mariadb transport's keys

``sfeventlog bench`` and sfeventlog's own suite (``tests/servers/mariadb.py``
adds the pytest fixtures) use it too.  Fault tests can ``stop()``,
``kill()`` (SIGKILL) and ``restart()`` it; the port and data survive a
restart.  ``MariaDBUnavailable`` is raised when no server can be started
(no ``mariadbd`` installed, a failed bootstrap).

Set ``MARIADBD`` to use another ``mariadbd`` binary.
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pymysql
from pydantic import SecretStr

from sfeventlog.config import Settings

#: The password of the unprivileged account tests connect as over TCP.
#: Tests assert this never shows up in logs, reprs or CLI output.
TEST_USER = "sfeventlog"
TEST_PASSWORD = "s3cret-Pa55-do-not-print"

HOW_TO_ENABLE = (
    "install mariadb-server (apt-get install mariadb-server) so that /usr/sbin/mariadbd"
    " and mariadb-install-db exist, or point MARIADBD at a mariadbd binary"
)


LOG = logging.getLogger(__name__)


class MariaDBUnavailable(RuntimeError):
    """mariadbd is missing or would not start; the message says why."""


def find_mariadbd() -> str | None:
    explicit = os.environ.get("MARIADBD")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for candidate in ("mariadbd", "/usr/sbin/mariadbd", "mysqld", "/usr/sbin/mysqld"):
        found = shutil.which(candidate)
        if found:
            return found
    return None


def _install_db_tool() -> str | None:
    for candidate in ("mariadb-install-db", "mysql_install_db"):
        found = shutil.which(candidate)
        if found:
            return found
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MariaDBServer:
    """One mariadbd process over a data dir under ``base_dir``."""

    _db_names = itertools.count()

    def __init__(self, base_dir: Path, *, extra_args: list[str] | None = None) -> None:
        self.base_dir = base_dir
        self.datadir = base_dir / "data"
        self.socket_path = base_dir / "mariadbd.sock"
        self.log_path = base_dir / "mariadbd.err"
        self.host = "127.0.0.1"
        self.port = free_port()
        self.extra_args = list(extra_args or [])
        self.process: subprocess.Popen[bytes] | None = None
        self.mariadbd = find_mariadbd()

    # -- lifecycle ---------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        """Start (installing the data dir on first use); wait until it answers."""
        if self.mariadbd is None:
            raise MariaDBUnavailable("no mariadbd binary found")
        if not (self.datadir / "mysql").is_dir():
            try:
                self._install()
            except MariaDBUnavailable as first:
                # One clean retry: a bootstrap can fail transiently under load.
                LOG.warning("mariadb-install-db failed, retrying once: %s", first)
                shutil.rmtree(self.datadir, ignore_errors=True)
                self._install()
        args = [
            self.mariadbd, "--no-defaults",
            f"--datadir={self.datadir}", f"--socket={self.socket_path}",
            f"--pid-file={self.base_dir / 'mariadbd.pid'}", f"--log-error={self.log_path}",
            f"--port={self.port}", f"--bind-address={self.host}",
            "--skip-name-resolve", "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci", "--max-connections=200",
            f"--tmpdir={self._tmpdir()}",
            *self.extra_args,
        ]
        if os.geteuid() == 0:
            args.append("--user=root")
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait_ready(timeout)
        self._ensure_test_user()

    def stop(self, timeout: float = 60.0) -> None:
        """Clean shutdown (SIGTERM)."""
        self._signal(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """Crash it: SIGKILL, as a power cut or OOM kill would."""
        self._signal(signal.SIGKILL, 30.0)

    def restart(self, timeout: float = 60.0) -> None:
        """Start again on the same port and data dir (after stop or kill)."""
        if self.alive:
            self.stop()
        self.start(timeout)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _signal(self, sig: int, timeout: float) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def _tmpdir(self) -> Path:
        # A private tmpdir: a shared /tmp made install fail once under load.
        path = self.base_dir / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _install(self) -> None:
        tool = _install_db_tool()
        if tool is None:
            raise MariaDBUnavailable("mariadb-install-db not found")
        self.datadir.mkdir(parents=True, exist_ok=True)
        cmd = [tool, "--no-defaults", f"--datadir={self.datadir}",
               "--auth-root-authentication-method=normal", "--skip-test-db",
               "--skip-name-resolve", f"--tmpdir={self._tmpdir()}"]
        if os.geteuid() == 0:
            cmd.append("--user=root")
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise MariaDBUnavailable(
                f"mariadb-install-db failed ({proc.returncode}): {proc.stderr[-2000:]}"
            )

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise MariaDBUnavailable(
                    f"mariadbd exited with {self.process.returncode}: {self._log_tail()}"
                )
            try:
                self.admin().close()
                return
            except pymysql.MySQLError as exc:
                last = exc
                time.sleep(0.05)
        self.kill()
        raise MariaDBUnavailable(f"mariadbd not ready after {timeout}s ({last}): {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no error log)"

    # -- access --------------------------------------------------------------

    def admin(self, database: str | None = None) -> Any:
        """A root connection over the unix socket, autocommit on."""
        return pymysql.connect(
            unix_socket=str(self.socket_path), user="root", password="",
            database=database, charset="utf8mb4", autocommit=True, connect_timeout=5,
        )

    def execute(self, sql: str, args: Any = None, database: str | None = None) -> list[Any]:
        conn = self.admin(database)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        finally:
            conn.close()

    def _ensure_test_user(self) -> None:
        self.execute(
            f"CREATE USER IF NOT EXISTS '{TEST_USER}'@'%%' IDENTIFIED BY %s", (TEST_PASSWORD,)
        )
        self.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{TEST_USER}'@'%'")

    def create_database(self, prefix: str = "sfe") -> str:
        """A new empty utf8mb4 database; returns its name."""
        name = f"{prefix}_{os.getpid()}_{next(self._db_names)}"
        self.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
        return name

    def settings(self, database: str, **overrides: Any) -> Settings:
        """Settings pointing the ``mariadb`` transport at ``database`` over TCP."""
        fields: dict[str, Any] = {
            "eventlog_transport": "mariadb",
            "mariadb_host": self.host,
            "mariadb_port": self.port,
            "mariadb_user": TEST_USER,
            "mariadb_password": SecretStr(TEST_PASSWORD),
            "mariadb_database": database,
            "mariadb_connect_timeout": 5.0,
            "mariadb_read_timeout": 30.0,
            "mariadb_write_timeout": 30.0,
        }
        fields.update(overrides)
        return Settings(**fields)

    def __enter__(self) -> MariaDBServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"MariaDBServer(port={self.port}, datadir={self.datadir})"
