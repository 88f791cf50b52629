"""Configuration, read from ``SHAKENFIST_*`` environment variables.

Every key is documented in ``docs/configuration.md``; keep the two in step.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "SHAKENFIST_"
DAY = 24 * 3600


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
    node_name: str = Field(default_factory=socket.getfqdn, min_length=1, max_length=255)

    # Embedded SQLite store (transport ``sqlite``).
    eventlog_sqlite_path: Path = Path("/srv/shakenfist/eventlog/events.sqlite")

    # MariaDB (transport ``mariadb`` and the database server).
    mariadb_host: str = "localhost"
    mariadb_port: int = 3306
    mariadb_user: str = "shakenfist"
    mariadb_password: SecretStr = SecretStr("")
    mariadb_database: str = "shakenfist"
    mariadb_unix_socket: str | None = None
    mariadb_connect_timeout: float = 5.0
    mariadb_read_timeout: float = 30.0
    mariadb_write_timeout: float = 30.0

    # sf-database gRPC gateway (transport ``database``).
    mariadb_gateway_hosts: str = "localhost"
    mariadb_gateway_port: int = 13005
    mariadb_gateway_metrics_port: int = 13006
    mariadb_gateway_timeout: float = 30.0
    database_drain_grace: float = 10.0

    # Legacy sf-eventlog (transport ``legacy``).
    eventlog_node_ip: str = "localhost"
    eventlog_api_port: int = 13003
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

    def gateway_hosts(self) -> list[str]:
        """The sf-database hosts to try, in order."""
        return [h.strip() for h in self.mariadb_gateway_hosts.split(",") if h.strip()]


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, with explicit overrides on top."""
    return Settings(**overrides)  # type: ignore[arg-type]
