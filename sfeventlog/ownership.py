"""Who owns a spool file: the one rule every path that opens one follows.

The daemon's own open, orphan rescue (``start()``, ``sfeventlog drain``) and
the read-only views (``sfeventlog status``, ``sfeventlog deadletter list``)
all decide with the functions here.

A spool file is ``<daemon>-<pid>.db``, or ``<daemon>-<pid>.<n>.db`` when
that name was taken.  It is **in use**, so never rescued nor removed,
while any of these holds:

1. a process holds its ``flock``: every sfeventlog owner does for its whole
   life, and a rescuer does while it merges the file;
2. a process has it open in SQLite: the WAL "dead man switch" lock on its
   ``-shm`` file is held.  An upstream daemon takes no flock but keeps its
   connection open for life; this lock is seen across pid namespaces;
3. the file is not one of ours (it has no sfeventlog ``meta`` table with a
   ``spool_id``: an upstream file, or one still being created), and the pid
   in its name is alive, is not a zombie, and that process started no
   later than the file (or its ``-wal``) last changed.  A process that
   started after the last change cannot have written it: its pid was
   reused.  Doubt counts as alive.  Our own files need no pid check: their
   owner holds the flock for as long as it has the file open, so a free
   flock means it is gone or has stopped with rows left.

A file is an **orphan** only when none holds.  A name without a pid is not a
spool file and is never rescued.  Nothing is adopted unless it is a regular
file with one link, owned by this process's uid: a symlink, a FIFO or a file
another user planted is left alone, and opening never follows a symlink.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import sqlite3
import stat
import struct
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sfeventlog.errors import ConfigError

LOG = logging.getLogger(__name__)

SPOOL_SUFFIX = ".db"
CORRUPT_MARKER = ".corrupt-"

_NAME = re.compile(r"(?P<daemon>.+)-(?P<pid>[0-9]+)(?:\.(?P<seq>[1-9][0-9]*))?\.db")

# Slack between a process's start time (whole-second boot time plus clock
# ticks) and a file's ctime before calling the pid reused.
_REUSE_SLACK = 2.0

# SQLite's unix VFS: connections to a WAL database hold a shared lock on
# byte 128 of its -shm file while open (the "DMS" lock, walformat.html).
_DMS_OFFSET = 128
# struct flock on Linux: l_type, l_whence, l_start, l_len, l_pid.
_FLOCK = "hhqqi"

_OPEN_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class PathTaken(OSError):
    """Something we must not use is at a spool path (directory, symlink,
    FIFO, another user's file, a hard link)."""


class SpoolLocked(RuntimeError):
    """Another live process owns this spool file."""


@dataclass(frozen=True)
class SpoolName:
    """The parts of a spool file name."""

    daemon: str
    pid: int
    seq: int = 0


def spool_file_name(daemon: str, pid: int, seq: int = 0) -> str:
    """``<daemon>-<pid>.db``, or ``<daemon>-<pid>.<seq>.db`` for ``seq`` > 0."""
    return f"{daemon}-{pid}{f'.{seq}' if seq else ''}{SPOOL_SUFFIX}"


def parse_spool_name(name: str) -> SpoolName | None:
    """The daemon, pid and sequence in a spool file name; None if it has no pid."""
    m = _NAME.fullmatch(name)
    if m is None:
        return None
    return SpoolName(m["daemon"], int(m["pid"]), int(m["seq"] or 0))


# -- the spool directory -----------------------------------------------


def check_spool_dir(spool_dir: Path) -> None:
    """Refuse a directory others could plant files in (OpenSSH's rule).

    It must be owned by this process's uid or root and be writable by
    neither group nor others.  Raises ``ConfigError`` naming the problem and
    the fix; nothing is changed on disk.
    """
    st = os.stat(spool_dir)
    me = os.geteuid()
    if st.st_uid not in (me, 0):
        raise ConfigError(
            f"spool directory {spool_dir} is owned by uid {st.st_uid}, not by this process"
            f" (uid {me}) or root; chown it, or set SHAKENFIST_EVENTLOG_SPOOL_DIR")
    if st.st_mode & 0o022:
        raise ConfigError(
            f"spool directory {spool_dir} is writable by group or others"
            f" (mode {stat.S_IMODE(st.st_mode):04o}); run chmod 0700 on it")


# -- opening files safely ------------------------------------------------


def file_problem(st: os.stat_result, *, ours: bool = True) -> str | None:
    """Why a file may not be used as a spool, or None.

    With ``ours`` it must also be this uid's and have a single link.
    """
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if ours and st.st_uid != os.geteuid():
        return f"owned by uid {st.st_uid}, not {os.geteuid()}"
    if ours and st.st_nlink != 1:
        return f"has {st.st_nlink} hard links"
    return None


#: How often open_file starts over when the file vanishes as it is opened.
_VANISHED_RETRIES = 20


def open_file(path: Path, flags: int, mode: int = 0o600, *, ours: bool = True) -> int:
    """``os.open`` that never follows a symlink nor blocks on a FIFO.

    Raises ``PathTaken`` when what is there is not a file we may use (see
    ``file_problem``); other ``OSError``s pass through.
    """
    for _ in range(_VANISHED_RETRIES):
        try:
            fd = os.open(path, flags | _OPEN_FLAGS, mode)
        except (IsADirectoryError, NotADirectoryError) as exc:
            raise PathTaken(exc.errno, f"{path}: not a regular file") from None
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENXIO):  # a symlink; a FIFO with no reader
                raise PathTaken(exc.errno, f"{path}: not a regular file") from None
            raise
        try:
            st = os.fstat(fd)
            problem = file_problem(st, ours=ours)
        except BaseException:
            os.close(fd)
            raise
        if st.st_nlink == 0 and flags & os.O_CREAT:
            # Unlinked between our open and our fstat (a rescuer removing a
            # file it has just emptied): open a new one at the path.
            os.close(fd)
            continue
        if problem is not None:
            os.close(fd)
            raise PathTaken(0, f"{path}: {problem}")
        return fd
    raise PathTaken(0, f"{path}: unlinked again and again as it was opened")


def restrict_mode(path: Path) -> None:
    """chmod 0600 the file itself, never a symlink's target."""
    fd = open_file(path, os.O_RDONLY)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def regular_file(path: Path) -> bool:
    """True for a regular file (not a symlink, FIFO or directory)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def readonly_uri(path: Path) -> str:
    """A SQLite URI that reads ``path`` without writing or creating anything.

    Without a ``-wal`` no connection is writing (a WAL writer keeps one), so
    the file is read as immutable: no lock, no ``-wal``/``-shm`` created.
    """
    uri = f"file:{urllib.parse.quote(str(path))}?mode=ro"
    if not os.path.lexists(f"{path}-wal"):
        uri += "&immutable=1"
    return uri


# -- locks and liveness ---------------------------------------------------


def try_flock(fd: int, *, exclusive: bool = True) -> bool:
    """Take the file's flock without waiting; False if another holds it."""
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def same_file(path: Path, fd: int) -> bool:
    """True while ``path`` still names the file open on ``fd``."""
    try:
        at_path, held = os.lstat(path), os.fstat(fd)
    except FileNotFoundError:
        return False
    return (at_path.st_dev, at_path.st_ino) == (held.st_dev, held.st_ino)


def open_in_sqlite(path: Path) -> bool:
    """True if another process has ``path`` open as a WAL database.

    Reads the lock state without taking a lock, so it never disturbs the
    owner.  A ``-shm`` that cannot be inspected counts as in use.
    """
    try:
        fd = os.open(f"{path}-shm", os.O_RDONLY | _OPEN_FLAGS)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        query = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, _DMS_OFFSET, 1, 0)
        l_type: int = struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, query))[0]
    except OSError:
        return True
    finally:
        os.close(fd)
    return l_type != fcntl.F_UNLCK


_boot_time: float | None = None


def _boot() -> float:
    global _boot_time
    if _boot_time is None:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                _boot_time = float(line.split()[1])
                break
        else:
            _boot_time = 0.0
    return _boot_time


def process_start_time(pid: int) -> float | None:
    """When process ``pid`` started (epoch seconds); None if dead or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name, which may itself hold spaces and ')'.
    fields = raw.rpartition(")")[2].split()
    if not fields or fields[0] in ("Z", "X"):
        return None
    return _boot() + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def last_change(path: Path) -> float:
    """The newest ctime of the file and its ``-wal`` (ctime cannot be set back)."""
    newest = 0.0
    for name in (str(path), f"{path}-wal"):
        try:
            newest = max(newest, os.lstat(name).st_ctime)
        except OSError:
            pass
    return newest


def pid_owns(pid: int, path: Path) -> bool:
    """Process ``pid`` is alive and old enough to have written ``path``."""
    started = process_start_time(pid)
    return started is not None and started <= last_change(path) + _REUSE_SLACK


def keeps_flock(path: Path) -> bool:
    """True for a file sfeventlog created: its owner holds the flock while it
    has the file open.  Read-only; any doubt (a foreign ``meta``) is False."""
    try:
        conn = sqlite3.connect(readonly_uri(path), uri=True, timeout=1.0)
    except sqlite3.Error:
        return False
    try:
        return conn.execute("SELECT 1 FROM meta WHERE key = 'spool_id'").fetchone() is not None
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def _pid_rule(name: SpoolName, path: Path) -> bool:
    """Rule 3: in use by the pid in the name (for files that keep no flock)."""
    return pid_owns(name.pid, path) and not keeps_flock(path)


# -- the decisions --------------------------------------------------------

# Paths already warned about, so a periodic rescue does not flood the log.
_warned: set[str] = set()


def _warn_once(path: Path, why: str) -> None:
    if str(path) not in _warned:
        _warned.add(str(path))
        LOG.warning("leaving %s alone: %s", path, why)


@contextmanager
def claim_orphan(path: Path) -> Iterator[int | None]:
    """Yield a flocked fd on ``path`` if it is an orphan we may take, else None.

    The lock is held (so no other rescuer takes the file) until the block
    ends; the caller merges and unlinks inside it.
    """
    name = parse_spool_name(path.name)
    if name is None or CORRUPT_MARKER in path.name:
        yield None
        return
    try:
        fd = open_file(path, os.O_RDWR)
    except PathTaken as exc:
        _warn_once(path, str(exc))
        yield None
        return
    except OSError:
        yield None  # gone meanwhile, or unreadable: not ours to take
        return
    try:
        if (not try_flock(fd) or not same_file(path, fd)
                or open_in_sqlite(path) or _pid_rule(name, path)):
            yield None
        else:
            yield fd
    finally:
        os.close(fd)


def owner_alive(path: Path) -> bool:
    """True while ``path`` is in use (rules 1-3); takes no lasting lock.

    A file whose name has no pid counts as alive: it is never rescued.
    """
    try:
        fd = open_file(path, os.O_RDONLY, ours=False)
    except OSError:
        return False
    try:
        if not try_flock(fd, exclusive=False):
            return True
    finally:
        os.close(fd)
    name = parse_spool_name(path.name)
    return name is None or open_in_sqlite(path) or _pid_rule(name, path)


def lock_own_file(path: Path, wait: float) -> int:
    """Create or open this process's spool file at ``path`` and hold its flock.

    Raises ``PathTaken`` when ``path`` is not a usable file and
    ``BlockingIOError`` when another process holds the file (its flock for
    ``wait`` seconds, or an open SQLite connection, as an upstream daemon in
    another pid namespace with our name and pid would).  A lock on a file
    that is no longer at ``path`` starts over with a new file.
    """
    deadline = time.monotonic() + wait
    while True:
        fd = open_file(path, os.O_RDWR | os.O_CREAT)
        if not try_flock(fd):
            busy = "locked by"
        elif not same_file(path, fd):
            os.close(fd)
            continue
        elif open_in_sqlite(path):
            busy = "open in"
        else:
            os.fchmod(fd, 0o600)
            return fd
        os.close(fd)
        if time.monotonic() >= deadline:
            raise BlockingIOError(f"spool file {path} is {busy} another process")
        time.sleep(0.02)
