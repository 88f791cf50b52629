"""Forks under load, for the fork tests: ``python -m tests.forkload FORKS CHILD_TIMEOUT [THREADS]``.

The parent starts sfeventlog (transport from the environment), keeps THREADS
(default three) threads calling ``add_event`` and its drainer busy, and forks FORKS children
(a few at a time).  Each child adds five events, reports each acked one on a
pipe, drains and exits.  A child still running after CHILD_TIMEOUT seconds
is hung: it is killed and counted.  Prints one JSON line: ``hung``,
``failed`` (children that exited non-zero) and ``acked`` (every message whose
``add_event`` returned True, parent's and children's) and ``grouped_rows``
(the parent's rows committed in group commits).
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import sys
import threading
import time
import traceback

import sfeventlog
from sfeventlog import api

_CONCURRENT_CHILDREN = 4
_CHILD_EVENTS = 5


def _child(k: int, report_fd: int, timeout: float) -> None:
    code = 1
    # A hung child shows where it hangs (on stderr) before it is killed.
    faulthandler.dump_traceback_later(max(1.0, timeout - 1.0))
    try:
        for i in range(_CHILD_EVENTS):
            message = f"c{k}-{i}"
            if sfeventlog.add_event("audit", "instance", message, message):
                os.write(report_fd, (message + "\n").encode())
            else:
                print(f"child {k}: add_event returned False", file=sys.stderr)
        spool = api.current_spool()
        code = 0 if sfeventlog.stop(drain_timeout=30) else 2
        if code:
            print(f"child {k}: stop() left rows in {spool and spool.path}:"
                  f" {spool and spool.count()} waiting", file=sys.stderr)
    except BaseException:  # noqa: BLE001 - a child reports every failure, then exits
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def main() -> int:
    forks, child_timeout = int(sys.argv[1]), float(sys.argv[2])
    n_threads = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    sfeventlog.start("forkload")
    stopping = threading.Event()
    acked: list[str] = []

    def load(tag: int) -> None:
        i = 0
        while not stopping.is_set():
            message = f"p{tag}-{i}"
            if sfeventlog.add_event("audit", "instance", message, message):
                acked.append(message)
            i += 1
            if i % 5 == 0:
                time.sleep(0.002)  # busy, but leave the drainer room to keep up

    threads = [threading.Thread(target=load, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    hung = failed = 0
    running: dict[int, tuple[float, int]] = {}

    def reap(block_below: int) -> None:
        nonlocal hung, failed
        while len(running) > block_below:
            for pid, (deadline, read_fd) in list(running.items()):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done == 0 and time.monotonic() < deadline:
                    continue
                if done == 0:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    hung += 1
                elif os.waitstatus_to_exitcode(status) != 0:
                    failed += 1
                with os.fdopen(read_fd) as f:
                    acked.extend(f.read().split())
                del running[pid]
            time.sleep(0.005)

    for k in range(forks):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            _child(k, write_fd, child_timeout)
        os.close(write_fd)
        running[pid] = (time.monotonic() + child_timeout, read_fd)
        reap(_CONCURRENT_CHILDREN - 1)
    reap(0)
    stopping.set()
    for t in threads:
        t.join()
    spool = api.current_spool()
    grouped = spool.grouped_rows if spool is not None else 0
    drained = sfeventlog.stop(drain_timeout=60)
    print(json.dumps({"hung": hung, "failed": failed, "drained": drained, "acked": acked,
                      "grouped_rows": grouped}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
