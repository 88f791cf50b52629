"""sfeventlog: a durable, pluggable event-log write path for Shaken Fist.

Callers use ``add_event`` / ``add_event_multi``; a daemon calls ``start()``
once to begin draining its spool through the configured transport.
"""

from importlib import metadata as _metadata

from sfeventlog.api import add_event, add_event_multi, start, stop
from sfeventlog.config import Settings
from sfeventlog.errors import (
    ConfigError,
    PermanentError,
    RetryableError,
    TransportError,
    TransportLoadError,
)
from sfeventlog.records import EventRecord
from sfeventlog.request_context import set_request_id_provider
from sfeventlog.transport import TRANSPORT_API_VERSION, Transport

# The version lives in one place, setup.cfg; the installed metadata carries it.
__version__: str = _metadata.version("sfeventlog")

__all__ = [
    "TRANSPORT_API_VERSION",
    "ConfigError",
    "EventRecord",
    "PermanentError",
    "RetryableError",
    "Settings",
    "Transport",
    "TransportError",
    "TransportLoadError",
    "__version__",
    "add_event",
    "add_event_multi",
    "set_request_id_provider",
    "start",
    "stop",
]
