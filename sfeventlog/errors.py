"""The error taxonomy shared by the core, the transports and the CLI."""

from __future__ import annotations


class SfEventlogError(Exception):
    """Base class for every error sfeventlog raises on purpose."""


class ConfigError(SfEventlogError):
    """The configuration cannot work; the message names the key to change."""


class TransportError(SfEventlogError):
    """A transport could not hand a batch to its store."""


class RetryableError(TransportError):
    """The store may accept the same batch later (outage, timeout, overload).

    The drainer keeps the rows and backs off.
    """


class PermanentError(TransportError):
    """The store rejects these records and will keep rejecting them.

    The drainer bisects the batch and moves the rejected records to the
    dead-letter table; the rest are delivered.
    """


class TransportLoadError(SfEventlogError):
    """The configured transport cannot be found, imported or built."""
