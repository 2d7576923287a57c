"""File-system faults for tests, made for real: an immutable file (``chattr +i``) and a small
tmpfs that fills up (``mount -t tmpfs``).

Both need root (CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN). Where they are not permitted the test
skips and says why, except in CI (``CI`` set), where CI runs as root and a missing
capability is a failure, not a skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.missing import missing


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False)


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """``path`` immutable (even for root) inside the block; writable again after it."""
    if shutil.which("chattr") is None:
        missing("chattr (e2fsprogs) is not installed")
    done = _run("chattr", "+i", str(path))
    if done.returncode != 0:
        missing(f"chattr +i not permitted here: {done.stderr.strip()}")
    try:
        yield
    finally:
        _run("chattr", "-i", str(path))


@contextlib.contextmanager
def small_tmpfs(size_bytes: int) -> Iterator[Path]:
    """A fresh tmpfs of ``size_bytes`` mounted on a temporary directory; unmounted and
    removed after the block."""
    mountpoint = Path(tempfile.mkdtemp(prefix="concentratord-tmpfs-"))
    done = _run(
        "mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0700", "tmpfs", str(mountpoint)
    )
    if done.returncode != 0:
        mountpoint.rmdir()
        missing(f"mounting a tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        _run("umount", "-l", str(mountpoint))
        with contextlib.suppress(OSError):
            mountpoint.rmdir()


def fill(directory: Path, name: str = "ballast") -> Path:
    """Fill the file system of ``directory`` to the last byte with one file; its path."""
    ballast = directory / name
    chunk = b"\0" * 65536
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, chunk[:size])
    finally:
        os.close(fd)
    return ballast
