"""The drain path validates once, in pydantic-core's compiled code (issue 15)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sfeventlog.errors import PermanentError
from sfeventlog.payload import UnparseableRow, parse_row
from sfeventlog.records import EventRecord
from sfeventlog.store.sqlite import SqliteEventStore
from sfeventlog.testing.backend import make_record


def _nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"k": 1}
    for _ in range(levels - 1):
        value = {"k": value}
    return value


def test_event_record_rules_are_constraints_not_python_validators() -> None:
    # A validator method is a call back into Python for every record.
    assert not EventRecord.__pydantic_decorators__.field_validators
    base = {"event_uuid": "u", "event_type": "t", "timestamp": 1.0, "fqdn": "f",
            "message": "m", "objects": [("instance", "i")]}
    for bad in ({"event_uuid": ""}, {"event_type": ""}, {"timestamp": float("nan")},
                {"duration": float("inf")}, {"objects": []}, {"objects": [("", "i")]},
                {"objects": [("instance", "")]}):
        with pytest.raises(ValueError):
            EventRecord(**{**base, **bad})


def test_a_row_nested_past_the_json_parser_limit_is_unparseable() -> None:
    # 250 levels: json.loads read it (and the store refused it later);
    # pydantic-core's parser stops at 200, so it dead-letters at once.
    row = {"event_uuid": "0190a0a0-0000-7000-8000-000000000001", "event_type": "t",
           "fqdn": "f", "duration": None, "message": "m",
           "extra": json.dumps(_nested(250)), "request_id": None, "timestamp": 1.5,
           "objects": [["instance", "i"]]}
    with pytest.raises(UnparseableRow):
        parse_row(json.dumps(row).encode())


def test_limits_checked_skips_only_the_repeated_structure_check(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "e.sqlite")
    store.migrate()
    too_deep = make_record(extra=_nested(40))
    with pytest.raises(PermanentError, match="nested more than"):
        store.write_batch([too_deep])
    # A caller that applied record_problems itself is trusted (the servers).
    ok = make_record()
    assert store.write_batch([ok], limits_checked=True).inserted == 1
    store.close()
