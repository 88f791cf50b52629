"""After fork() the child uses its own spool file and its own drainer."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import sfeventlog
from sfeventlog import api
from sfeventlog.config import Settings
from sfeventlog_transports.null import DISCARDED


def test_forked_child_gets_its_own_spool_and_drainer(settings: Settings) -> None:
    sfeventlog.start("sf-fork", settings)
    parent_spool = api.current_spool()
    assert parent_spool is not None
    parent_before = DISCARDED._value.get()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report back through the pipe, never return into pytest
        code = 1
        try:
            child_before = DISCARDED._value.get()
            ok = all(sfeventlog.add_event("audit", "instance", f"c{i}", "child")
                     for i in range(300))
            child_spool = api.current_spool()
            own_file = child_spool is not None and child_spool.path != parent_spool.path
            # The child's drainer is set up on a thread of its own: let it start.
            deadline = time.monotonic() + 10
            while api._state.drainer is None and time.monotonic() < deadline:
                time.sleep(0.01)
            drainers = [t for t in threading.enumerate() if t.name == "eventlog-drainer"]
            drained = sfeventlog.stop(drain_timeout=20)
            delivered = DISCARDED._value.get() - child_before
            report = f"{ok} {own_file} {len(drainers)} {drained} {int(delivered)}"
            os.write(write_fd, report.encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    for i in range(200):
        assert sfeventlog.add_event("audit", "instance", f"p{i}", "parent")
    _, status = os.waitpid(pid, 0)
    report = os.read(read_fd, 1000).decode().split()
    os.close(read_fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert report == ["True", "True", "1", "True", "300"]
    # The parent's spool and drainer still work after the child is gone.
    assert api.current_spool() is parent_spool
    assert sfeventlog.stop(drain_timeout=20)
    assert DISCARDED._value.get() - parent_before == 200
    assert not list(Path(settings.eventlog_spool_dir).glob("*.db"))
