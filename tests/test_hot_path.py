"""The caller never waits on the network or DNS, in a fresh process or a forked child.

Each case runs in a fresh interpreter whose resolver is "blackholed": the
socket module's lookups sleep for seconds, as they do when DNS is down.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from sfeventlog.store.sqlite import SqliteEventStore

#: Slow lookups for the child interpreter; set before sfeventlog is imported.
BLACKHOLE = """
import socket, time
SLOW = float(__import__("os").environ["DNS_DELAY"])
def _slow(name):
    real = getattr(socket, name)
    def slow(*args, **kwargs):
        time.sleep(SLOW)
        if name == "getfqdn":
            return "node-01.example.test"
        return real(*args, **kwargs)
    setattr(socket, name, slow)
for _name in ("getfqdn", "gethostbyaddr", "getaddrinfo", "gethostbyname"):
    _slow(_name)
"""


def _run(script: str, tmp_path: Path, dns_delay: float) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHAKENFIST_")}
    env.update({
        "DNS_DELAY": str(dns_delay),
        "SHAKENFIST_EVENTLOG_SPOOL_DIR": str(tmp_path / "spool"),
        "SHAKENFIST_EVENTLOG_TRANSPORT": "sqlite",
        "SHAKENFIST_EVENTLOG_SQLITE_PATH": str(tmp_path / "events.sqlite"),
    })
    code = BLACKHOLE + textwrap.dedent(script)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _fqdns(tmp_path: Path, object_uuid: str) -> list[str]:
    store = SqliteEventStore(tmp_path / "events.sqlite")
    try:
        return [r.fqdn for r in store.get_object_events("instance", object_uuid, limit=1000)]
    finally:
        store.close()


def test_first_event_of_a_fresh_process_does_not_wait_on_dns(tmp_path: Path) -> None:
    out = _run("""
        import json, time
        import sfeventlog
        t0 = time.perf_counter()
        ok = sfeventlog.add_event("audit", "instance", "fresh", "first")
        first = time.perf_counter() - t0
        sfeventlog.start("sf-fresh")   # waits a bounded while for the lookup, then drains
        print(json.dumps({"ok": ok, "first": first, "drained": sfeventlog.stop(20)}))
    """, tmp_path, dns_delay=5.0)
    assert out["ok"] and out["drained"]
    assert out["first"] < 0.25, f"first add_event took {out['first']:.3f}s with DNS down"
    # Before the lookup answers, the event carries the host name, as
    # getfqdn() itself would after its resolver timeout.
    assert _fqdns(tmp_path, "fresh") == [socket.gethostname()]


def test_events_carry_the_fqdn_once_it_is_resolved(tmp_path: Path) -> None:
    out = _run("""
        import json, time
        import sfeventlog
        t0 = time.perf_counter()
        sfeventlog.add_event("audit", "instance", "early", "before the lookup answered")
        first = time.perf_counter() - t0
        sfeventlog.start("sf-resolved")
        for i in range(5):
            sfeventlog.add_event("audit", "instance", "late", f"after start {i}")
        print(json.dumps({"first": first, "drained": sfeventlog.stop(20)}))
    """, tmp_path, dns_delay=0.3)
    assert out["drained"]
    assert out["first"] < 0.25
    assert _fqdns(tmp_path, "early") == [socket.gethostname()]
    assert _fqdns(tmp_path, "late") == ["node-01.example.test"] * 5


def test_a_forked_childs_first_event_does_not_wait(tmp_path: Path) -> None:
    # The child's drainer loads its transport and rescues orphans: slow here,
    # on purpose, and none of it may happen on the caller's thread.
    out = _run("""
        import json, os, time
        import sfeventlog
        from sfeventlog import api
        sfeventlog.start("sf-forking")
        real_load, real_rescue = api.load_transport, api.rescue_orphans
        def slow_load(settings):
            time.sleep(2.0)
            return real_load(settings)
        def slow_rescue(spool, **kwargs):
            time.sleep(1.0)
            return real_rescue(spool, **kwargs)
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                api.load_transport, api.rescue_orphans = slow_load, slow_rescue
                t0 = time.perf_counter()
                ok = sfeventlog.add_event("audit", "instance", "child", "first in child")
                first = time.perf_counter() - t0
                more = all(sfeventlog.add_event("audit", "instance", "child", f"c{i}")
                           for i in range(49))
                drained = sfeventlog.stop(20)
                os.write(write_fd, json.dumps(
                    {"ok": ok and more, "first": first, "drained": drained}).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write_fd)
        _, status = os.waitpid(pid, 0)
        child = json.loads(os.read(read_fd, 4096).decode())
        child["status"] = status
        child["parent_drained"] = sfeventlog.stop(20)
        print(json.dumps(child))
    """, tmp_path, dns_delay=0.05)
    assert out["status"] == 0 and out["ok"]
    assert out["first"] < 0.25, f"child's first add_event took {out['first']:.3f}s"
    assert out["drained"] and out["parent_drained"]
    fqdns = _fqdns(tmp_path, "child")
    assert len(fqdns) == 50, "every child event is delivered once"
    assert set(fqdns) == {"node-01.example.test"}  # resolved in the parent, kept


def test_a_child_forked_during_the_lookup_does_not_wait(tmp_path: Path) -> None:
    out = _run("""
        import json, os, time
        import sfeventlog
        from sfeventlog import hostname
        hostname.start_resolving()      # in flight in the parent at fork
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                t0 = time.perf_counter()
                ok = sfeventlog.add_event("audit", "instance", "mid-lookup", "child")
                first = time.perf_counter() - t0
                os.write(write_fd, json.dumps({"ok": ok, "first": first}).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write_fd)
        _, status = os.waitpid(pid, 0)
        child = json.loads(os.read(read_fd, 4096).decode())
        child["status"] = status
        print(json.dumps(child))
    """, tmp_path, dns_delay=5.0)
    assert out["status"] == 0 and out["ok"]
    assert out["first"] < 0.25
