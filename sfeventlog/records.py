"""The record a transport receives: one event about one or more objects."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator


class EventRecord(BaseModel):
    """One event, as handed to ``Transport.record_event_batch``.

    ``event_uuid`` is the idempotency key: a store that already holds a record
    with the same ``event_uuid`` must treat a second copy as a no-op.
    ``duration`` keeps a real ``0.0`` distinct from ``None``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_uuid: str
    event_type: str
    timestamp: float
    fqdn: str
    message: str
    duration: float | None = None
    extra: dict[str, Any] | None = None
    request_id: str | None = None
    objects: list[tuple[str, str]]

    @field_validator("event_uuid", "event_type")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value:
            raise ValueError("must be a non-empty string")
        return value

    @field_validator("timestamp", "duration")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @field_validator("objects")
    @classmethod
    def _objects(cls, value: list[tuple[str, str]]) -> list[tuple[str, str]]:
        if not value:
            raise ValueError("must name at least one (object_type, object_uuid)")
        for object_type, object_uuid in value:
            if not object_type or not object_uuid:
                raise ValueError("object_type and object_uuid must be non-empty")
        return value
