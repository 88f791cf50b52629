"""The record a transport receives: one event about one or more objects."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

# Declared as constraints, not validator methods, so pydantic-core checks
# them in compiled code: every drained row and every gRPC entry meets them.
NonEmptyStr = Annotated[str, Field(min_length=1)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
ObjectPair = tuple[NonEmptyStr, NonEmptyStr]


class EventRecord(BaseModel):
    """One event, as handed to ``Transport.record_event_batch``.

    ``event_uuid`` is the idempotency key: a store that already holds a record
    with the same ``event_uuid`` must treat a second copy as a no-op.
    ``duration`` keeps a real ``0.0`` distinct from ``None``.  Validation
    refuses an empty ``event_uuid``/``event_type``, a non-finite
    ``timestamp``/``duration`` and an empty ``objects`` or object name.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_uuid: NonEmptyStr
    event_type: NonEmptyStr
    timestamp: FiniteFloat
    fqdn: str
    message: str
    duration: FiniteFloat | None = None
    extra: dict[str, Any] | None = None
    request_id: str | None = None
    objects: Annotated[list[ObjectPair], Field(min_length=1)]
