"""Our reference gRPC servers as separate processes (``sfeventlog serve ...``).

``ServerProcess`` starts the console script with ``--listen 127.0.0.1:0`` and
``--metrics-port 0``, reads the ports it prints, and always stops it:
SIGTERM, then SIGKILL if it does not exit.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

SFEVENTLOG = [sys.executable, "-m", "sfeventlog.cli.main"]
_LISTENING = re.compile(r"^listening on (\S+):(\d+)$")
_METRICS = re.compile(r"^metrics on (http://\S+)$")


class ServerProcess:
    """One ``sfeventlog serve KIND ...`` child process."""

    def __init__(self, kind: str, args: Sequence[str], env: Mapping[str, str] | None = None,
                 log_path: Path | None = None, free_ports: bool = True) -> None:
        """``free_ports=False``: no ``--listen``/``--metrics-port``, the server's defaults."""
        self.kind = kind
        self.free_ports = free_ports
        self.args = list(args)
        self.env = dict(os.environ if env is None else env)
        self.log_path = log_path
        self.process: subprocess.Popen[str] | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self.metrics_url: str | None = None
        self.output: list[str] = []
        self._reader: threading.Thread | None = None

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        ports = ["--listen", "127.0.0.1:0", "--metrics-port", "0"] if self.free_ports else []
        cmd = [*SFEVENTLOG, "serve", self.kind, *ports, *self.args]
        stderr = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,
            text=True, env=self.env,
        )
        if self.log_path:
            stderr.close()  # type: ignore[union-attr]
        ready = threading.Event()
        self._reader = threading.Thread(target=self._read, args=(ready,), daemon=True)
        self._reader.start()
        if not ready.wait(timeout) or not self.port:
            self.kill()
            raise RuntimeError(f"sfeventlog serve {self.kind} did not start: {self.output}"
                               f" {self._log_tail()}")
        return self

    def _read(self, ready: threading.Event) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            line = line.rstrip("\n")
            self.output.append(line)
            if m := _LISTENING.match(line):
                self.host, self.port = m.group(1), int(m.group(2))
            if m := _METRICS.match(line):
                self.metrics_url = m.group(1)
            if self.port and self.metrics_url:
                ready.set()
        ready.set()

    def _log_tail(self) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")[-3000:]
        return ""

    def metric(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """One sample scraped over HTTP from the server's metrics endpoint (0 if absent)."""
        assert self.metrics_url is not None
        with urllib.request.urlopen(self.metrics_url, timeout=10) as response:
            text = response.read().decode()
        return sample(text, name, labels)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def terminate(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait; SIGKILL if it will not exit. Returns the exit code."""
        proc = self.process
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if self._reader is not None:
            self._reader.join(5)
        return proc.returncode

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def sample(text: str, name: str, labels: Mapping[str, str] | None = None) -> float:
    """Sum of the samples of ``name`` in Prometheus text whose labels include ``labels``."""
    total = 0.0
    want = labels or {}
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        metric, _, raw_labels = head.partition("{")
        if metric != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', raw_labels))
        if all(found.get(k) == v for k, v in want.items()):
            total += float(value)
    return total


def wait_until(predicate: object, timeout: float = 30.0, interval: float = 0.05) -> bool:
    """Poll ``predicate()`` until true or ``timeout``; returns its last truth."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():  # type: ignore[operator]
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
