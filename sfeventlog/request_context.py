"""Where ``request_id`` comes from when the caller does not pass one.

The provider is pluggable so that non-Flask daemons can supply their own
context (e.g. a contextvar set by their RPC framework).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

RequestIdProvider = Callable[[], "str | None"]

FLASK_ENVIRON_KEY = "FLASK_REQUEST_ID"


_FLASK_UNSET = object()
_flask: Any = _FLASK_UNSET


def _flask_module() -> Any:
    # Import once: a failed import costs a path scan, too slow per event.
    global _flask
    if _flask is _FLASK_UNSET:
        try:
            import flask as module
        except ImportError:
            module = None  # type: ignore[assignment]
        _flask = module
    return _flask


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
