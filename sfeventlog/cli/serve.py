"""``sfeventlog serve database|legacy``: run a reference gRPC server.

Prints ``listening on HOST:PORT`` (and ``metrics on URL``) once serving, so
scripts can use port 0.  SIGTERM/SIGINT: health NOT_SERVING, a grace period
for in-flight calls, exit 0.

With no flags ``serve database`` runs like upstream's sf-database in the same
config: it listens on ``NODE_MESH_IP:MARIADB_GATEWAY_PORT`` and serves
metrics on ``NODE_MESH_IP:MARIADB_GATEWAY_METRICS_PORT``.  Flags override.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sfeventlog.cli.common import UsageError, add_command
from sfeventlog.config import Settings
from sfeventlog.server.limits import DEFAULT_MAX_MESSAGE_BYTES
from sfeventlog.server.runtime import RunningServer, ServerOptions
from sfeventlog.store.base import EventStore


def _common(p: argparse.ArgumentParser, listen_default: str, metrics_default: str) -> None:
    p.add_argument("--listen", default=None, metavar="HOST:PORT",
                   help=f"address to serve on; port 0 picks a free one (default {listen_default})")
    p.add_argument("--metrics-port", type=int, default=None, metavar="N",
                   help=f"serve Prometheus metrics on this port (0 picks one; default {metrics_default})")
    p.add_argument("--metrics-host", default=None, help="metrics address (default: the --listen host)")
    p.add_argument("--workers", type=int, default=16, help="RPC worker threads (default 16)")
    p.add_argument("--max-message-bytes", type=int, default=DEFAULT_MAX_MESSAGE_BYTES,
                   help=f"largest request accepted (default {DEFAULT_MAX_MESSAGE_BYTES})")
    p.add_argument("--grace", type=float, default=None,
                   help="seconds in-flight calls get at shutdown (default SHAKENFIST_DATABASE_DRAIN_GRACE)")
    p.add_argument("--tls-cert", type=Path, help="server certificate (PEM); enables TLS")
    p.add_argument("--tls-key", type=Path, help="server private key (PEM)")
    p.add_argument("--tls-client-ca", type=Path,
                   help="CA for client certificates; enables mTLS (clients without one are refused)")


def register(sub: Any) -> None:
    p = add_command(
        sub, "serve", help="run a reference gRPC server (database or legacy)",
        examples=[
            "sfeventlog serve database --listen 127.0.0.1:13005 --metrics-port 13006 --sqlite /tmp/ev.sqlite",
            "SHAKENFIST_MARIADB_HOST=db1 sfeventlog serve database --listen 0.0.0.0:13005 --metrics-port 13006",
            "sfeventlog serve legacy --listen 127.0.0.1:13003 --store /tmp/sf-eventlog",
        ],
    )
    kinds = p.add_subparsers(dest="server", metavar="SERVER", required=True)
    db = add_command(
        kinds, "database", help="sf-database: DatabaseService.RecordEventBatch into a store",
        description="sf-database: RecordEventBatch into MariaDB (SHAKENFIST_MARIADB_*)"
        " or, with --sqlite, into a local SQLite store.",
        examples=[
            "SHAKENFIST_NODE_MESH_IP=10.0.0.5 SHAKENFIST_MARIADB_HOST=db1 sfeventlog serve database",
            "sfeventlog serve database --listen 127.0.0.1:13005 --metrics-port 13006 --sqlite /tmp/ev.sqlite",
            "sfeventlog serve database --listen 0.0.0.0:13005 --tls-cert s.pem --tls-key s.key --tls-client-ca ca.pem",
        ],
    )
    _common(db, "SHAKENFIST_NODE_MESH_IP:SHAKENFIST_MARIADB_GATEWAY_PORT",
            "SHAKENFIST_MARIADB_GATEWAY_METRICS_PORT")
    db.add_argument("--sqlite", type=Path, metavar="PATH",
                    help="store in this SQLite file instead of MariaDB")
    db.add_argument("--prune-every", type=float, default=None, metavar="SECONDS",
                    help="run the retention prune every SECONDS (e.g. 86400); of several"
                    " servers sharing a store only one runs it (default: off)")
    db.set_defaults(func=run_database)
    legacy = add_command(
        kinds, "legacy", help="reference sf-eventlog: EventService into its own SQLite store",
        examples=[
            "sfeventlog serve legacy --listen 127.0.0.1:13003 --store /tmp/sf-eventlog --metrics-port 0",
            "sfeventlog legacy-events --store /tmp/sf-eventlog --json",
        ],
    )
    _common(legacy, LEGACY_LISTEN, "off")
    legacy.add_argument("--store", type=Path, required=True, metavar="DIR",
                        help="directory of the legacy store (created if missing)")
    legacy.set_defaults(func=run_legacy)


LEGACY_LISTEN = "127.0.0.1:13003"
MAX_PORT = 65535


def database_listen(settings: Settings) -> str:
    """Upstream sf-database's address: ``NODE_MESH_IP:MARIADB_GATEWAY_PORT``."""
    host = settings.require(
        "node_mesh_ip", "`serve database` without --listen (upstream listens on"
        " NODE_MESH_IP:MARIADB_GATEWAY_PORT)")
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{host}:{settings.mariadb_gateway_port}"


def _port(value: str | int, flag: str) -> int:
    if isinstance(value, str) and not value.isdigit():
        raise UsageError(f"{flag}: port must be a number 0-{MAX_PORT}, got {value!r}")
    number = int(value)
    if not 0 <= number <= MAX_PORT:
        raise UsageError(f"{flag}: port must be 0-{MAX_PORT} (0 picks a free one), got {number}")
    return number


def _options(args: argparse.Namespace, settings: Settings,
             listen_default: str, metrics_default: int | None) -> ServerOptions:
    listen = listen_default if args.listen is None else args.listen
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port:
        raise UsageError(f"--listen must be HOST:PORT, got {listen!r}")
    _port(port, "--listen")
    metrics_port = metrics_default if args.metrics_port is None else args.metrics_port
    if metrics_port is not None:
        _port(metrics_port, "--metrics-port")
    if args.workers < 1:
        raise UsageError("--workers must be >= 1")
    if args.max_message_bytes < 1024:
        raise UsageError("--max-message-bytes must be >= 1024")
    return ServerOptions(
        listen=listen, workers=args.workers, max_message_bytes=args.max_message_bytes,
        grace=settings.database_drain_grace if args.grace is None else args.grace,
        metrics_host=args.metrics_host, metrics_port=metrics_port,
        tls_cert=args.tls_cert, tls_key=args.tls_key, tls_client_ca=args.tls_client_ca,
    )


def store_factory(settings: Settings, sqlite: Path | None) -> Callable[[], EventStore]:
    """A zero-argument callable making one store: SQLite at ``sqlite``, else MariaDB."""
    if sqlite is not None:
        from sfeventlog.store.sqlite import SqliteEventStore

        def make_sqlite() -> EventStore:
            return SqliteEventStore(sqlite)

        return make_sqlite
    from sfeventlog.store.mariadb import MariaDBEventStore

    def make_mariadb() -> EventStore:
        return MariaDBEventStore(settings)

    return make_mariadb


def _announce_and_wait(running: RunningServer) -> int:
    requested = running.catch_signals()
    print(f"listening on {running.target}", flush=True)
    if running.metrics_port is not None:
        print(f"metrics on http://{running.host}:{running.metrics_port}/metrics", flush=True)
    running.wait_for_signal(requested)
    print("stopped", flush=True)
    return 0


def run_database(args: argparse.Namespace) -> int:
    from sfeventlog.server.database import start_database_server
    from sfeventlog.server.lifecycle import MAX_PRUNE_INTERVAL, LifecycleOptions, valid_interval
    from sfeventlog.store.prune import RetentionPolicy

    settings = Settings()
    listen = database_listen(settings) if args.listen is None else args.listen
    options = _options(args, settings, listen, settings.mariadb_gateway_metrics_port)
    if args.prune_every is not None and not valid_interval(args.prune_every):
        raise UsageError(f"--prune-every must be a number of seconds between 0 and"
                         f" {MAX_PRUNE_INTERVAL:.0f}, got {args.prune_every}")
    lifecycle = LifecycleOptions(RetentionPolicy.from_settings(settings), args.prune_every)
    return _announce_and_wait(start_database_server(
        options, store_factory(settings, args.sqlite), lifecycle))


def run_legacy(args: argparse.Namespace) -> int:
    from sfeventlog.server.legacy import start_legacy_server

    settings = Settings()
    return _announce_and_wait(start_legacy_server(_options(args, settings, LEGACY_LISTEN, None),
                                                  args.store))
