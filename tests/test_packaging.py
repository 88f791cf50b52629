"""The release artefacts: a complete sdist and a wheel that works on its own.

The wheel goes into a clean venv outside the repository (its dependencies
from the package index), so nothing of the source tree can leak in.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import sfeventlog

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHAKENFIST_")}
    env.pop("PYTHONPATH", None)
    return env


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel",
                    "-o", str(out), str(ROOT)], check=True, capture_output=True, timeout=300)
    return out


def _collected(cwd: Path) -> int:
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           "-p", "no:cacheprovider"], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=_env())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    m = re.search(r"^(\d+) tests? collected", proc.stdout, re.M)
    assert m, proc.stdout[-2000:]
    return int(m.group(1))


def test_pytest_runs_from_an_unpacked_sdist(dist: Path, tmp_path: Path) -> None:
    (sdist,) = dist.glob("sfeventlog-*.tar.gz")
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path, filter="data")
    tree = tmp_path / sdist.name.removesuffix(".tar.gz")
    for needed in ("LICENSE", "CHANGELOG.md", "tox.ini", "protos/database.proto",
                   "docs/configuration.md", "examples/jsonl-transport/setup.cfg",
                   "contrib/systemd/sfeventlog-database.service", "tools/gen-protos"):
        assert (tree / needed).exists(), f"the sdist lacks {needed}"
    # Every test the repository has, collected from the sdist alone.
    assert _collected(tree) == _collected(ROOT)
    # And some really run there, against the sdist's own code.
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/test_docs.py", "tests/test_payload.py"],
        cwd=tree, capture_output=True, text=True, timeout=300, env=_env())
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert re.search(r"\d+ passed", proc.stdout)


def test_the_wheel_works_in_a_clean_venv(dist: Path, tmp_path: Path) -> None:
    (wheel,) = dist.glob("sfeventlog-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True,
                   capture_output=True, timeout=300, env=_env())
    script = str(venv / "bin" / "sfeventlog")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    version = subprocess.run([script, "--version"], capture_output=True, text=True,
                             check=True, timeout=60, cwd=elsewhere, env=_env())
    assert version.stdout.strip() == f"sfeventlog {sfeventlog.__version__}"
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import sfeventlog; print(sfeventlog.__file__)"],
                           capture_output=True, text=True, check=True, cwd=elsewhere,
                           env=_env())
    assert where.stdout.startswith(str(venv)), "the wheel's code, not the source tree's"
    demo = subprocess.run([script, "demo", "--count", "2000"], capture_output=True, text=True,
                          timeout=120, cwd=elsewhere, env=_env())
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "every event was stored exactly once" in demo.stdout
    docs = subprocess.run([script, "docs", "runbook-cutover"], capture_output=True, text=True,
                          check=True, timeout=60, cwd=elsewhere, env=_env())
    assert docs.stdout == (ROOT / "docs" / "runbook-cutover.md").read_text()
