"""Where ``request_id`` comes from when the caller does not pass one.

The provider is pluggable so that non-Flask daemons can supply their own
context (e.g. a contextvar set by their RPC framework).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

RequestIdProvider = Callable[[], "str | None"]

FLASK_ENVIRON_KEY = "FLASK_REQUEST_ID"


def _flask_module() -> Any:
    # A Flask request can only be active if the application imported flask;
    # never import it ourselves (that costs ~100 ms on a caller's first event).
    return sys.modules.get("flask")


def flask_request_id() -> str | None:
    """The request id of the active Flask request, or None.

    Flask is an optional extra: without it, or outside a request, this
    returns None.
    """
    flask = _flask_module()
    if flask is None or not flask.has_request_context():
        return None
    value = flask.request.environ.get(FLASK_ENVIRON_KEY)
    return value if isinstance(value, str) and value else None


_provider: RequestIdProvider = flask_request_id


def set_request_id_provider(provider: RequestIdProvider | None) -> None:
    """Install a provider; None restores the built-in Flask one."""
    global _provider
    _provider = provider if provider is not None else flask_request_id


def current_request_id() -> str | None:
    """Ask the installed provider; a failing provider counts as no id."""
    try:
        return _provider()
    except Exception:  # noqa: BLE001 - context lookup must never break add_event
        return None
