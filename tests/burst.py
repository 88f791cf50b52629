"""Many threads emitting at once, for the group-commit kill test.

``python -m tests.burst THREADS EVENTS_EACH``: starts sfeventlog (transport
and spool from the environment), then THREADS threads call ``add_event``
EVENTS_EACH times each, as fast as they can.  Lines on stdout, each one
``os.write`` (whole, unbuffered, so a SIGKILL loses no report already made):

* ``accepted <message>`` for each call that returned True;
* ``dropped <message>`` for each that returned False;
* ``exception <repr>`` for each call that raised;
* ``groups <commits> <rows>`` from time to time: the spool's group commits so far.
"""

from __future__ import annotations

import os
import sys
import threading
import time

import sfeventlog
from sfeventlog import api


def say(line: str) -> None:
    os.write(1, (line + "\n").encode())


def main() -> int:
    threads, each = int(sys.argv[1]), int(sys.argv[2])
    sfeventlog.start("burst")
    ready = threading.Barrier(threads)

    def emit(t: int) -> None:
        ready.wait()
        for i in range(each):
            message = f"t{t}-{i}"
            try:
                ok = sfeventlog.add_event("audit", "instance", f"t{t}-{i % 20}", message)
            except BaseException as exc:  # noqa: BLE001 - the test counts every exception
                say(f"exception {exc!r}")
                continue
            say(f"{'accepted' if ok else 'dropped'} {message}")

    pool = [threading.Thread(target=emit, args=(t,), daemon=True) for t in range(threads)]
    for thread in pool:
        thread.start()
    while any(thread.is_alive() for thread in pool):
        spool = api.current_spool()
        if spool is not None:
            say(f"groups {spool.group_commits} {spool.grouped_rows}")
        time.sleep(0.02)
    say("done")
    sfeventlog.stop(drain_timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
