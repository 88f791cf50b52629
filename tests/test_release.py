"""What an operator installing a release relies on: the version, the packaged
docs, config check, JSON logs, quiet imports and the systemd units."""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import sfeventlog
from sfeventlog.cli.main import build_parser
from tests.servers.reference import SFEVENTLOG

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "contrib" / "systemd"


def _run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
         ) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SHAKENFIST_")}
    full_env.update(env or {})
    return subprocess.run([*SFEVENTLOG, *args], capture_output=True, text=True, timeout=60,
                          env=full_env, cwd=cwd)


def test_version_has_one_source() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    version = cfg["metadata"]["version"]
    assert sfeventlog.__version__ == metadata.version("sfeventlog") == version
    assert _run("--version").stdout.strip() == f"sfeventlog {version}"
    # Nowhere else in the code: the metadata is the only copy.
    for path in (ROOT / "sfeventlog").rglob("*.py"):
        assert f'"{version}"' not in path.read_text(), path


def test_license_changelog_and_classifiers() -> None:
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    assert "Version 2.0" in (ROOT / "LICENSE").read_text()
    assert "## [Unreleased]" in (ROOT / "CHANGELOG.md").read_text()
    meta = metadata.metadata("sfeventlog")
    assert meta["License"] == "Apache-2.0"
    classifiers = meta.get_all("Classifier") or []
    for minor in (11, 12, 13):
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers


def test_docs_command_prints_the_packaged_pages() -> None:
    listing = _run("docs").stdout.split()
    shipped = sorted(p.stem for p in (ROOT / "docs").glob("*.md"))
    assert listing == shipped
    proc = _run("docs", "configuration")
    assert proc.returncode == 0
    assert proc.stdout == (ROOT / "docs" / "configuration.md").read_text()
    bad = _run("docs", "nonsense")
    assert bad.returncode == 2
    assert "topics:" in bad.stderr and "Traceback" not in bad.stderr


def _all_help_texts() -> list[str]:
    texts = []
    stack = [build_parser()]
    while stack:
        parser = stack.pop()
        texts.append(parser.format_help())
        for action in parser._actions:  # argparse has no public walk of subparsers
            choices = getattr(action, "choices", None)
            if isinstance(choices, dict):
                stack.extend(choices.values())
    return texts


def test_help_points_at_docs_an_installed_user_can_reach() -> None:
    texts = _all_help_texts()
    assert len(texts) > 10
    for text in texts:
        assert not re.search(r"\bdocs/\S+\.md", text), text
    assert any("sfeventlog docs configuration" in t for t in texts)


def test_config_check_shows_sources_and_masks_secrets() -> None:
    env = {"SHAKENFIST_EVENTLOG_TRANSPORT": "null",
           "SHAKENFIST_MARIADB_PASSWORD": "s3cr3t-value"}
    proc = _run("config", "check", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "s3cr3t-value" not in proc.stdout + proc.stderr
    rows = {r["key"]: r for r in json.loads(proc.stdout)["config"]}
    assert rows["mariadb_password"]["value"] == "********"
    assert rows["eventlog_transport"] == {"key": "eventlog_transport", "value": "null",
                                          "source": "env SHAKENFIST_EVENTLOG_TRANSPORT"}
    assert rows["mariadb_port"]["source"] == "default"
    text = _run("config", "check", env=env)
    assert text.returncode == 0 and "ok: transport 'null'" in text.stdout


def test_config_check_exit_codes(tmp_path: Path) -> None:
    invalid = _run("config", "check",
                   env={"SHAKENFIST_EVENTLOG_SPOOL_HIGH_WATER_MARK": "lots"})
    assert invalid.returncode == 2
    assert "SHAKENFIST_EVENTLOG_SPOOL_HIGH_WATER_MARK" in invalid.stderr
    unknown = _run("config", "check", env={"SHAKENFIST_EVENTLOG_TRANSPORT": "nul"})
    assert unknown.returncode == 2
    assert "Did you mean 'null'" in unknown.stderr
    # The keys are valid but the store cannot be there: only --connect finds out.
    (tmp_path / "a-file").write_text("")
    env = {"SHAKENFIST_EVENTLOG_TRANSPORT": "sqlite",
           "SHAKENFIST_EVENTLOG_SQLITE_PATH": str(tmp_path / "a-file" / "e.db")}
    assert _run("config", "check", env=env).returncode == 0
    unreachable = _run("config", "check", "--connect", env=env)
    assert unreachable.returncode == 1, unreachable.stdout + unreachable.stderr
    assert "cannot reach its store" in unreachable.stderr
    for proc in (invalid, unknown, unreachable):
        assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("how", ["flag", "env"])
def test_json_logs_and_a_quiet_normal_shutdown(tmp_path: Path, how: str) -> None:
    args = [*SFEVENTLOG, "-v"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHAKENFIST_")}
    if how == "flag":
        args += ["--log-format", "json"]
    else:
        env["SHAKENFIST_LOG_FORMAT"] = "json"
    proc = subprocess.Popen(
        [*args, "serve", "database", "--listen", "127.0.0.1:0", "--metrics-port", "0",
         "--sqlite", str(tmp_path / "ev.sqlite")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("metrics on"):
            break
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert lines, "a verbose server logs something"
    for entry in lines:
        assert {"asctime", "level", "logger", "message"} <= entry.keys()
        assert entry["level"] != "WARNING", entry
    assert any("NOT_SERVING" in e["message"] and e["level"] == "INFO" for e in lines)


def test_json_log_lines_keep_structured_fields() -> None:
    code = (
        "import logging, sys\n"
        "from sfeventlog import logsetup\n"
        "logsetup.configure(logging.INFO, 'json', tracebacks=False)\n"
        "logging.getLogger('x').info('Added event', extra={'event_type': 'audit', 'n': 3})\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stderr
    entry = json.loads(out)
    assert (entry["message"], entry["event_type"], entry["n"]) == ("Added event", "audit", 3)


def test_importing_the_library_installs_no_log_handlers(tmp_path: Path) -> None:
    code = (
        "import logging\n"
        "import sfeventlog, sfeventlog.cli.main, sfeventlog_transports.database\n"
        "from sfeventlog.config import Settings\n"
        f"s = Settings(eventlog_transport='null', eventlog_spool_dir={str(tmp_path)!r})\n"
        "sfeventlog.start('quiet', s)\n"
        "sfeventlog.add_event('audit', 'instance', 'u-1', 'hello')\n"
        "sfeventlog.stop()\n"
        "loggers = [logging.getLogger()] + [l for l in logging.Logger.manager.loggerDict.values()"
        " if isinstance(l, logging.Logger)]\n"
        # Libraries may add a NullHandler (stevedore, grpc do); nothing that prints.
        "print(sum(not isinstance(h, logging.NullHandler) or l.name.startswith('sfeventlog')"
        " for l in loggers for h in l.handlers))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHAKENFIST_")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None and not os.environ.get("CI"),
                    reason="systemd-analyze is not installed")
@pytest.mark.parametrize("unit", sorted(p.name for p in UNITS.glob("*.service")))
def test_systemd_units_verify(tmp_path: Path, unit: str) -> None:
    text = (UNITS / unit).read_text()
    for key in ("NoNewPrivileges=yes", "ProtectSystem=strict", "EnvironmentFile=",
                "User=shakenfist"):
        assert key in text, f"{unit} lacks {key}"
    # verify checks that ExecStart's binary exists: point it at ours.
    script = Path(sys.executable).with_name("sfeventlog")
    (tmp_path / unit).write_text(text.replace("/usr/local/bin/sfeventlog", str(script)))
    proc = subprocess.run(["systemd-analyze", "verify", str(tmp_path / unit)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr


def test_systemd_units_cover_every_service_command() -> None:
    units = {p.name for p in UNITS.glob("*.service")}
    assert units == {"sfeventlog-database.service", "sfeventlog-legacy.service",
                     "sfeventlog-drain.service"}
    example = (UNITS / "sfeventlog.env.example").read_text()
    for unit in units:
        for var in re.findall(r"\$\{(\w+)\}", (UNITS / unit).read_text()):
            assert f"\n{var}=" in example, f"{unit} uses {var}, not in the env example"


@pytest.mark.parametrize("command", [["status", "--help"], ["--version"], ["docs"],
                                     ["transports", "--json"]])
def test_cli_commands_never_import_benchmarks_or_pymysql(command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHAKENFIST_")}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "sfeventlog.cli.main",
                           *command], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
               if line.startswith("import time:")}
    assert "sfeventlog.cli.common" in modules
    loaded = sorted(m for m in modules if m.startswith(("sfeventlog_bench", "pymysql")))
    assert not loaded, f"sfeventlog {' '.join(command)} imported {loaded}"


def test_the_benchmarks_are_not_in_the_runtime_package() -> None:
    assert not (ROOT / "sfeventlog" / "bench").exists()
    proc = _run("bench", "--list")
    assert proc.returncode == 0 and "enqueue" in proc.stdout.split()
