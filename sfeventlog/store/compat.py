"""Is a MariaDB server one the store can use? (version, engine, charset)."""

from __future__ import annotations

import re

from sfeventlog.errors import SfEventlogError

MIN_VERSION = (10, 11)


class IncompatibleServerError(SfEventlogError):
    """The MariaDB server is too old, not InnoDB or not utf8mb4; the message says which."""


def parse_version(version: str) -> tuple[int, int]:
    """``'10.11.6-MariaDB-0+deb12u1'`` -> ``(10, 11)``; unparseable -> ``(0, 0)``."""
    match = re.match(r"\s*(\d+)\.(\d+)", version)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def server_problems(version: str, default_engine: str, charset: str) -> list[str]:
    """Every reason the server is refused; empty if it is fine.

    ``charset`` is the default character set of the configured database, which
    is what the store's tables and connection must agree with.
    """
    problems = []
    if "mariadb" not in version.lower():
        problems.append(f"server version {version!r} is not MariaDB (MariaDB >= "
                        f"{MIN_VERSION[0]}.{MIN_VERSION[1]} is required)")
    elif parse_version(version) < MIN_VERSION:
        problems.append(
            f"server version {version!r} is too old: MariaDB >= "
            f"{MIN_VERSION[0]}.{MIN_VERSION[1]} is required"
        )
    if default_engine.lower() != "innodb":
        problems.append(
            f"default storage engine is {default_engine!r}, not InnoDB"
            " (set default_storage_engine=InnoDB)"
        )
    if not charset.lower().startswith("utf8mb4"):
        problems.append(
            f"default character set is {charset!r}, not utf8mb4"
            " (ALTER DATABASE ... CHARACTER SET utf8mb4, or character_set_server=utf8mb4)"
        )
    return problems
