"""Property: every add_event either raises ValueError or arrives intact.

Runs the real pipeline (spool file, drainer, sqlite events store) over
generated arguments, and compares the store field for field.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sfeventlog
from sfeventlog import api
from sfeventlog.config import Settings
from sfeventlog.store.sqlite import SqliteEventStore

text = st.text(max_size=40)
json_scalar = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | text | st.floats(
    allow_nan=False, allow_infinity=False, width=64)
json_value = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(text, inner, max_size=4), max_leaves=10)
anything = st.one_of(st.none(), st.integers(), st.floats(), text, st.binary(max_size=5),
                     st.lists(text, max_size=2))

valid_event = st.fixed_dictionaries({
    "event_type": st.text(min_size=1, max_size=32),
    "objects": st.lists(st.tuples(st.text(min_size=1, max_size=32),
                                  st.text(min_size=1, max_size=36)), min_size=1, max_size=3),
    "message": st.text(max_size=300),
    "duration": st.none() | st.floats(allow_nan=False, allow_infinity=False, width=64),
    "extra": st.none() | st.dictionaries(text, json_value, max_size=4),
    "request_id": st.none() | st.text(min_size=1, max_size=64),
})
mixed_event = st.fixed_dictionaries({
    "event_type": st.one_of(text, anything),
    "objects": st.one_of(
        st.lists(st.tuples(st.one_of(text, anything), st.one_of(text, anything)), max_size=3),
        anything),
    "message": st.one_of(st.text(max_size=200), anything),
    "duration": st.one_of(st.none(), st.floats(width=64), anything),
    "extra": st.one_of(st.none(), st.dictionaries(text, json_value, max_size=4),
                       st.dictionaries(st.integers(), text, max_size=2), anything),
    "request_id": st.one_of(st.none(), text, anything),
})


def _same_float(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isclose(a, b, rel_tol=1e-15) and a != 0)


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(valid_event | mixed_event, min_size=1, max_size=25))
def test_each_event_raises_or_arrives_intact(events: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "events.sqlite"
        conf = Settings(eventlog_transport="sqlite", eventlog_spool_dir=Path(tmp) / "spool",
                        eventlog_sqlite_path=db, node_name="node-1")
        api.reset_for_tests(conf)
        accepted: list[dict[str, Any]] = []
        for args in events:
            try:
                ok = sfeventlog.add_event_multi(**args)
            except ValueError:
                continue
            assert ok
            accepted.append(args)
        spool = api.current_spool()
        rows = [json.loads(p) for _, p in spool.dequeue_batch(1000)] if spool else []
        assert len(rows) == len(accepted)
        sfeventlog.start("prop", conf)
        assert sfeventlog.stop(drain_timeout=30), "the drain must not stall"
        if not accepted:
            return
        store = SqliteEventStore(db)
        try:
            stored = {r.event_uuid: r for r in store.get_events([r["event_uuid"] for r in rows])}
        finally:
            store.close()
        assert len(stored) == len(accepted)
        for row, args in zip(rows, accepted, strict=True):
            got = stored[row["event_uuid"]]
            assert got.event_type == args["event_type"]
            unique = list(dict.fromkeys(tuple(o) for o in args["objects"]))
            assert got.objects == unique
            assert got.message == args["message"]
            assert _same_float(got.duration, args["duration"])
            assert got.extra == args["extra"]
            assert got.request_id == args["request_id"]
            assert got.fqdn == "node-1"
