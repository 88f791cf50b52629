"""Find and build the configured transport through stevedore entry points."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from stevedore import driver
from stevedore.exception import NoMatches

from sfeventlog.config import Settings
from sfeventlog.errors import ConfigError, TransportLoadError
from sfeventlog.transport import (
    SUPPORTED_TRANSPORT_API_VERSIONS,
    TRANSPORT_API_VERSION,
    Transport,
    declared_api_version,
    in_flight_depth,
)

NAMESPACE = "sfeventlog.transports"
CONFIG_KEY = "eventlog_transport (env SHAKENFIST_EVENTLOG_TRANSPORT)"


@dataclass(frozen=True)
class InstalledTransport:
    """One entry point in the transports group, not imported."""

    name: str
    target: str
    distribution: str
    version: str


def installed_transports() -> list[InstalledTransport]:
    """Every registered transport, without importing any of them."""
    found: dict[str, InstalledTransport] = {}
    for ep in metadata.entry_points(group=NAMESPACE):
        dist = ep.dist
        found.setdefault(
            ep.name,
            InstalledTransport(
                name=ep.name,
                target=ep.value,
                distribution=dist.metadata["Name"] if dist is not None else "?",
                version=dist.version if dist is not None else "?",
            ),
        )
    return sorted(found.values(), key=lambda t: t.name)


def _unknown_name_error(name: str) -> TransportLoadError:
    names = [t.name for t in installed_transports()]
    if name in names:
        # importlib.metadata sees it but stevedore does not: stevedore caches
        # entry points per process and on disk, and the install came later.
        return TransportLoadError(
            f"transport {name!r} was installed after this process first listed transports"
            " (stevedore caches entry points); restart the process, and if that is not"
            " enough remove ~/.cache/python-entrypoints"
        )
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    listing = ", ".join(names) if names else "none"
    return TransportLoadError(
        f"unknown transport {name!r} set by {CONFIG_KEY}. Installed transports: {listing}.{hint}"
    )


def load_transport_class(name: str) -> type[Transport]:
    """Import only the named plugin and check it implements our contract."""
    failures: list[tuple[object, BaseException]] = []

    def on_failure(_manager: object, entrypoint: object, exc: BaseException) -> None:
        failures.append((entrypoint, exc))

    try:
        manager: driver.DriverManager[Any] = driver.DriverManager(
            namespace=NAMESPACE,
            name=name,
            invoke_on_load=False,
            on_load_failure_callback=on_failure,
        )
    except NoMatches:
        if failures:
            raise _import_error(name, failures[0][1]) from failures[0][1]
        raise _unknown_name_error(name) from None
    except RuntimeError as exc:  # several plugins share the name
        raise TransportLoadError(f"transport {name!r}: {exc}") from exc
    if failures:
        raise _import_error(name, failures[0][1]) from failures[0][1]
    plugin = manager.driver
    if not (isinstance(plugin, type) and issubclass(plugin, Transport)):
        raise TransportLoadError(
            f"transport {name!r} ({_describe(name)}) is not a sfeventlog.transport.Transport subclass"
        )
    version = declared_api_version(plugin)
    if version is None:
        raise TransportLoadError(
            f"transport {name!r} ({_describe(name)}) states no transport API version: its class"
            f" must set api_version = {TRANSPORT_API_VERSION} (the version it was written for)"
        )
    if version not in SUPPORTED_TRANSPORT_API_VERSIONS:
        raise TransportLoadError(
            f"transport {name!r} ({_describe(name)}) implements transport API version {version},"
            f" but this sfeventlog speaks version {_versions()}; upgrade the plugin or"
            " sfeventlog so that they match"
        )
    try:
        in_flight_depth(plugin)
    except ConfigError as exc:
        raise TransportLoadError(f"transport {name!r} ({_describe(name)}): {exc}") from None
    return plugin


def _versions() -> str:
    return " or ".join(str(v) for v in sorted(SUPPORTED_TRANSPORT_API_VERSIONS))


def _describe(name: str) -> str:
    for t in installed_transports():
        if t.name == name:
            return f"{t.target} from {t.distribution} {t.version}"
    return "unregistered"


def _import_error(name: str, exc: BaseException) -> TransportLoadError:
    return TransportLoadError(
        f"transport {name!r} ({_describe(name)}) failed to import:"
        f" {type(exc).__name__}: {exc}"
    )


def load_transport(settings: Settings) -> Transport:
    """Build the transport named by ``settings.eventlog_transport``.

    Raises ``TransportLoadError`` for an unknown name, a plugin that fails to
    import, or a plugin built for another API version.
    """
    cls = load_transport_class(settings.eventlog_transport)
    try:
        return cls(settings)
    except Exception as exc:
        raise TransportLoadError(
            f"transport {settings.eventlog_transport!r} could not be built: {type(exc).__name__}: {exc}"
        ) from exc


def unknown_transport_error(name: str) -> TransportLoadError:
    """The error for a name no installed transport has: it lists them and suggests one."""
    return _unknown_name_error(name)
