"""The shipped tools run, as an operator would run them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_outage_drill_runs_a_short_drill() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "outage-drill"), "--outage", "2.5",
         "--rate", "150", "--lead", "1"],
        capture_output=True, text=True, timeout=180, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    outage_depths = [int(line.split()[2]) for line in lines if " outage " in line]
    assert outage_depths and max(outage_depths) > 100, "depth climbs during the outage"
    assert "dropped: 0" in proc.stdout
    assert "backoff after drain: 0.00 s" in proc.stdout
    assert lines[-1] == "PASS"
