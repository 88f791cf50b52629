"""What a backend under the contract kit can be asked to do.

A backend declares each requirement met or unmet, with a reason for each
unmet one (in the spirit of SQLAlchemy's dialect-suite requirements). A kit
test that needs an unmet requirement is skipped, and the skip names the
requirement and the backend's reason: nothing is inferred from a method
returning None.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

import pytest


class Requirement(enum.Enum):
    """One capability a kit test may need; the value says what it means."""

    READ_BACK = "stored records can be read back field for field"
    DEDUPES = "a replayed event_uuid adds no second copy that can be counted"
    REJECTS_RECORDS = "some valid record is refused permanently (PermanentError)"
    UNREACHABLE = "settings exist that point at a store that is not there"
    PROBE = "probe() answers True or False rather than None"


def unmet_reason(requirement: Requirement, meets: frozenset[Requirement],
                 unmet: Mapping[Requirement, str]) -> str | None:
    """None when met; otherwise the backend's reason (or a complaint that it gave none)."""
    if requirement in meets:
        return None
    return unmet.get(requirement, "the backend declares no reason (a kit failure elsewhere)")


def require(backend: object, requirement: Requirement) -> None:
    """Skip the calling test unless ``backend`` meets ``requirement``."""
    meets: frozenset[Requirement] = getattr(backend, "meets", frozenset())
    unmet: Mapping[Requirement, str] = getattr(backend, "unmet", {})
    reason = unmet_reason(requirement, meets, unmet)
    if reason is not None:
        name = getattr(backend, "name", "?")
        pytest.skip(f"unmet requirement {requirement.name} ({requirement.value})"
                    f" for {name!r}: {reason}")
