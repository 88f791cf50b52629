"""Configuration, read from ``SHAKENFIST_*`` environment variables.

Every key is documented in ``docs/configuration.md``; keep the two in step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sfeventlog import hostname
from sfeventlog.errors import ConfigError
from sfeventlog.limits import LIMITS

ENV_PREFIX = "SHAKENFIST_"
DAY = 24 * 3600

LogFormat = Literal["text", "json"]


class Settings(BaseSettings):
    """All keys sfeventlog and its bundled transports read.

    Third-party transports may read further keys of their own; they receive
    this object and may also build their own ``BaseSettings``.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", case_sensitive=False
    )

    # Core.
    eventlog_transport: str = "database"
    eventlog_spool_dir: Path = Path("/srv/shakenfist/spool/eventlog")
    eventlog_spool_high_water_mark: int = Field(default=100_000, ge=1)
    eventlog_spool_durability: Literal["normal", "full"] = "normal"
    # None: the host's FQDN, looked up in the background (see ``fqdn()``).
    node_name: str | None = Field(default=None, min_length=1, max_length=LIMITS.fqdn)
    # Upstream's key: the "Added event" log line for each event (to Loki).
    log_events_to_loki: bool = True
    # Upstream's NODE_MESH_IP: where ``serve database`` listens by default.
    node_mesh_ip: str = ""
    # Output of the sfeventlog command's own logs (libraries never get handlers).
    log_format: LogFormat = "text"

    # Embedded SQLite store (transport ``sqlite``).
    eventlog_sqlite_path: Path = Path("/srv/shakenfist/eventlog/events.sqlite")

    # MariaDB (transport ``mariadb`` and the database server).  Host-like
    # keys default to "" as upstream's do: a deployment names them (``require``).
    mariadb_host: str = ""
    mariadb_port: int = Field(default=3306, ge=1, le=65535)
    mariadb_user: str = "shakenfist"
    mariadb_password: SecretStr = SecretStr("")
    mariadb_database: str = "shakenfist"
    mariadb_unix_socket: str | None = None
    mariadb_connect_timeout: float = 5.0
    mariadb_read_timeout: float = 30.0
    mariadb_write_timeout: float = 30.0

    # sf-database gRPC gateway (transport ``database``).
    mariadb_gateway_hosts: str = ""
    mariadb_gateway_port: int = Field(default=13005, ge=1, le=65535)
    mariadb_gateway_metrics_port: int = Field(default=13006, ge=1, le=65535)
    mariadb_gateway_timeout: float = 30.0
    database_drain_grace: float = 10.0

    # Legacy sf-eventlog (transport ``legacy``).
    eventlog_node_ip: str = ""
    eventlog_api_port: int = Field(default=13003, ge=1, le=65535)
    eventlog_api_timeout: float = 10.0

    # Retention (``sfeventlog prune``, ``PruneEvents``): seconds; -1 keeps that type
    # forever.  Event types without a key here are never pruned (docs/retention.md).
    max_audit_event_age: int = Field(default=90 * DAY, ge=-1)
    max_mutate_event_age: int = Field(default=90 * DAY, ge=-1)
    max_status_event_age: int = Field(default=7 * DAY, ge=-1)
    max_usage_event_age: int = Field(default=30 * DAY, ge=-1)
    max_resources_event_age: int = Field(default=7 * DAY, ge=-1)
    max_prune_event_age: int = Field(default=30 * DAY, ge=-1)
    max_historic_event_age: int = Field(default=90 * DAY, ge=-1)
    max_health_event_age: int = Field(default=90 * DAY, ge=-1)
    max_api_request_event_age: int = Field(default=1 * DAY, ge=-1)

    # TLS for both gRPC paths; all optional.
    grpc_tls_ca_file: Path | None = None
    grpc_tls_cert_file: Path | None = None
    grpc_tls_key_file: Path | None = None

    @field_validator("eventlog_transport")
    @classmethod
    def _transport_name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must name a transport, e.g. 'database'")
        return value

    def fqdn(self) -> str:
        """What events record as ``fqdn``: ``node_name``, else the host's FQDN.

        Never waits on DNS: until the background lookup has finished this is
        ``socket.gethostname()`` (see ``sfeventlog.hostname``).
        """
        return self.node_name or hostname.fqdn()

    def gateway_hosts(self) -> list[str]:
        """The sf-database hosts calls are spread over (round-robin)."""
        return [h.strip() for h in self.mariadb_gateway_hosts.split(",") if h.strip()]

    def require(self, field: str, needed_by: str) -> str:
        """The host-like setting ``field``, or ``ConfigError`` naming it if unset.

        Upstream leaves these empty by default; guessing ``localhost`` would
        send a production node's events to the wrong place silently.
        """
        value = str(getattr(self, field)).strip()
        if not value:
            raise ConfigError(f"{ENV_PREFIX}{field.upper()} is not set; {needed_by} needs it")
        return value

    def require_mariadb(self) -> None:
        """``ConfigError`` unless MariaDB has a host or a unix socket."""
        if not self.mariadb_unix_socket:
            self.require("mariadb_host", "MariaDB (or set SHAKENFIST_MARIADB_UNIX_SOCKET)")

