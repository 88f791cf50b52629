"""The backend matrix: one module per backend, each defining a
``backend_<name>`` fixture that returns a ``ContractBackend``.

A backend that cannot run calls ``unavailable()``: a loud failure in CI
(``CI=true``), a skip that says how to enable it elsewhere.
"""

from __future__ import annotations

import os

import pytest

#: Every backend the matrix knows, in run order.
BACKEND_NAMES: list[str] = ["null", "sqlite", "mariadb", "database", "legacy"]

#: pytest plugin modules providing the ``backend_<name>`` fixtures.
BACKEND_PLUGINS = [f"tests.backends.{name}" for name in BACKEND_NAMES]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(backend: str, why: str, how_to_enable: str) -> None:
    """Fail in CI, skip loudly elsewhere: never a silent pass."""
    message = f"backend {backend!r} cannot run: {why}"
    if in_ci():
        pytest.fail(message + " (CI=true: a backend that cannot run fails the run)", pytrace=False)
    pytest.skip(f"{message}. To enable: {how_to_enable}")
