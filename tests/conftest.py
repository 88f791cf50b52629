"""Suite-wide fixtures: the backend matrix and a clean sfeventlog per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sfeventlog import api
from sfeventlog.config import Settings
from tests.backends import BACKEND_NAMES, BACKEND_PLUGINS

pytest_plugins = BACKEND_PLUGINS


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend", action="append", default=None, choices=BACKEND_NAMES,
        help="run the backend matrix only for these backends (repeatable; default: all)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("backend") or BACKEND_NAMES
        metafunc.parametrize("backend_name", chosen, ids=chosen)


@pytest.fixture
def backend(backend_name: str, request: pytest.FixtureRequest) -> object:
    """The matrix backend for this test (see tests/backends/)."""
    return request.getfixturevalue(f"backend_{backend_name}")


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture(autouse=True)
def _clean_api_state() -> Iterator[None]:
    """Each test starts with no spool, no drainer and default settings."""
    api.reset_for_tests()
    yield
    api.reset_for_tests()


@pytest.fixture
def settings(spool_dir: Path) -> Settings:
    return Settings(eventlog_transport="null", eventlog_spool_dir=spool_dir)
