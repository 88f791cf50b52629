"""What the figure groups share in one run: mode, temp dir, MariaDB, big spools."""

from __future__ import annotations

import itertools
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from sfeventlog.config import Settings
from sfeventlog.spool import Spool
from sfeventlog.testing.mariadb import MariaDBServer, MariaDBUnavailable
from sfeventlog_bench.mariadb_store import fresh_database
from sfeventlog_bench.workload import spool_rows

N = TypeVar("N", int, float)


class MariaDBMissing(RuntimeError):
    """The private MariaDB could not be started; the message says why."""


class BenchContext:
    """Per-run state.  ``quick`` shrinks every figure's work to fit a minute."""

    def __init__(self, *, quick: bool, tmpdir: str | None = None,
                 log: Callable[[str], None] | None = None) -> None:
        self.quick = quick
        self._tmp = tempfile.TemporaryDirectory(prefix="sfeventlog-bench-", dir=tmpdir)
        self.tmp = Path(self._tmp.name)
        self.log = log or (lambda line: print(f"# {line}", file=sys.stderr, flush=True))
        self._mariadb: MariaDBServer | None = None
        self._mariadb_error: str | None = None
        self._spools: dict[int, Path] = {}

    def scaled(self, quick: N, full: N) -> N:
        """``quick`` in quick mode, else ``full``."""
        return quick if self.quick else full

    # -- MariaDB ---------------------------------------------------------------

    def mariadb_settings(self, database: str) -> Settings:
        """Settings for a fresh, migrated ``database`` on the run's private MariaDB.

        Starts the server on first use; raises ``MariaDBMissing`` if it cannot.
        """
        if self._mariadb_error is not None:
            raise MariaDBMissing(self._mariadb_error)
        if self._mariadb is None:
            server = MariaDBServer(self.tmp / "mariadb")
            try:
                server.start()
            except (MariaDBUnavailable, OSError) as exc:
                server.kill()
                self._mariadb_error = str(exc).splitlines()[0][:300]
                raise MariaDBMissing(self._mariadb_error) from None
            self._mariadb = server
            self.log(f"private MariaDB on 127.0.0.1:{server.port}, datadir {server.datadir}")
        return fresh_database(self._mariadb, database)

    # -- spools with a backlog ------------------------------------------------------

    def backlog_spool(self, rows: int, name: str) -> Path:
        """A closed spool file at ``tmp/name`` holding ``rows`` distinct events.

        Filled once per size and copied, since a 1M-row fill takes seconds.
        """
        source = self._spools.get(rows)
        if source is None:
            source = self.tmp / f"backlog-{rows}.db"
            started = time.perf_counter()
            spool = Spool(source, high_water_mark=rows + 1, lock=False)
            rows_iter = spool_rows(rows)
            while spool.insert_raw(list(itertools.islice(rows_iter, 50_000))):
                pass
            spool.close()
            self.log(f"filled a {rows:,}-row spool in {time.perf_counter() - started:.1f}s")
            self._spools[rows] = source
        target = self.tmp / name
        shutil.copyfile(source, target)
        return target

    # -- lifecycle ----------------------------------------------------------------

    def close(self) -> None:
        server, self._mariadb = self._mariadb, None
        if server is not None:
            server.stop()
        self._tmp.cleanup()

    def __enter__(self) -> BenchContext:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

