"""The hand-written fast paths of the spool payload match the reference encoder."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sfeventlog.payload import _ENCODER, build_payload, encode

text = st.text(max_size=20)
phase2 = st.fixed_dictionaries({
    "event_uuid": text, "event_type": text, "fqdn": text,
    "duration": st.none() | st.floats() | st.integers(),
    "message": text, "extra": st.none() | text, "request_id": st.none() | text,
    "timestamp": st.floats() | st.integers() | st.none(),
    "objects": st.lists(st.lists(text, min_size=1, max_size=3) | st.tuples(text, text),
                        max_size=3),
})


@settings(max_examples=300, deadline=None)
@given(phase2)
def test_encode_is_byte_identical_to_the_json_encoder(payload: dict[str, Any]) -> None:
    try:
        expected = _ENCODER.encode(payload).encode()
    except ValueError:
        with pytest.raises(ValueError):
            encode(payload)
        return
    assert encode(payload) == expected


def test_encode_keeps_other_key_orders_and_shapes() -> None:
    payload = {"event_type": "a", "event_uuid": "u"}
    assert encode(payload) == b'{"event_type":"a","event_uuid":"u"}'


@pytest.mark.parametrize("extra", [
    {"a": 1, "b": 2.5, "c": None, "d": True, "e": "x"},
    {"nested": {"list": [1, "\u00e9", {"k": None}]}, "\u00fc": "v"},
])
def test_extra_encodes_like_the_json_encoder(extra: dict[str, Any]) -> None:
    payload = build_payload(event_type="t", objects=[("instance", "u")], message="m",
                            fqdn="f", extra=extra)
    assert payload["extra"] == _ENCODER.encode(extra)
    assert json.loads(encode(payload)) == payload
