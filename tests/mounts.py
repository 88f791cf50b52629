"""Real small file systems for the hostile-disk tests (root only).

``tmpfs`` mounts a size-limited tmpfs (a disk that fills up); ``Ext4Loop``
puts ext4 on a loop device, whose ``abort()`` turns it read-only under
open files, as the kernel does after a disk error (a plain
``mount -o remount,ro`` is refused while a spool file is open for writing).
Outside CI a missing privilege skips the test; in CI it fails it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.backends import in_ci


def _run(*cmd: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        msg = f"{' '.join(cmd)} failed: {proc.stderr.strip()}"
        if in_ci():
            pytest.fail(msg)
        pytest.skip(msg + " (run as root to enable)")


@contextmanager
def tmpfs(mount: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (``mount -o size=``) at ``mount``, unmounted after."""
    mount.mkdir(parents=True, exist_ok=True)
    _run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount))
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(mount: Path) -> Path:
    """Fill the file system at ``mount`` to the last byte; returns the filler file."""
    filler = mount / "filler"
    with open(filler, "wb", buffering=0) as f:
        for chunk in (1 << 20, 4096, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError:
                pass
    return filler


class Ext4Loop:
    """An ext4 file system in ``image``, on a loop device, mounted at ``mount``."""

    def __init__(self, image: Path, mount: Path, size_mb: int = 32) -> None:
        self.image, self.path = image, mount
        with open(image, "wb") as f:
            f.truncate(size_mb << 20)
        _run("mkfs.ext4", "-q", str(image))
        mount.mkdir(parents=True, exist_ok=True)
        self.mount()

    def mount(self) -> None:
        # mount(8) sets up the loop device itself and frees it at umount.
        _run("mount", "-o", "loop", str(self.image), str(self.path))

    def abort(self) -> None:
        """Make the mounted file system read-only now, open files and all."""
        _run("mount", "-o", "remount,abort", str(self.path))

    def remount(self) -> None:
        """Unmount and mount again: writable, with what reached the disk."""
        self.umount()
        self.mount()

    def umount(self) -> None:
        if subprocess.run(["umount", str(self.path)], capture_output=True).returncode:
            # Still busy (a failed test left a file open): detach it lazily.
            subprocess.run(["umount", "-l", str(self.path)], check=False)


@contextmanager
def ext4_loop(tmp_path: Path) -> Iterator[Ext4Loop]:
    fs = Ext4Loop(tmp_path / "ext4.img", tmp_path / "ext4")
    try:
        yield fs
    finally:
        fs.umount()
