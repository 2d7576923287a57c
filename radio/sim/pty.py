"""A pseudo-terminal that stands in for a USB serial device.

The emulator holds the master side; the driver opens the slave side by path with pyserial,
exactly as it would open /dev/ttyUSB0. A stable symlink points at the current slave, so
"unplug" (close the pty: the driver's reads fail) and "replug" (a new pty, the symlink moved
to it) look to the driver like a dongle pulled and put back.

Host presence: a new pty's slave is held open here (so that it is raw before anyone opens
it, and what is written before the driver opens it waits in the pty). Once the driver is
talking, ``release_slave()`` lets go of it; from then on the master polls POLLHUP whenever
no process has the slave open, which is how an emulator sees the host close its port.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import tempfile
import time
import tty
import weakref
from pathlib import Path
from typing import Any

# How long a write waits for a reader to make room before it gives the bytes up.
WRITE_PATIENCE_S = 2.0


class PtyDevice:
    """The master end of a pty, with a stable symlink to the slave end."""

    def __init__(self, link_path: str | os.PathLike[str] | None = None) -> None:
        self._cleanup: weakref.finalize[Any, Any] | None = None
        if link_path is None:
            own_dir = tempfile.mkdtemp(prefix="concentratord-pty-")
            link_path = Path(own_dir) / "ttyEMU0"
            # The directory made here goes with the device: on close, or when the device is
            # collected or the process exits without a close.
            self._cleanup = weakref.finalize(self, shutil.rmtree, own_dir, ignore_errors=True)
        self.link_path = Path(link_path)
        self.master: int | None = None
        self._slave: int | None = None
        self.slave_name: str | None = None

    def plug(self) -> None:
        """Open a new pty and point the symlink at it."""
        if self.master is not None:
            return
        master, slave = os.openpty()
        # Raw at once: with the default line discipline the slave would echo what the
        # emulator writes back to it, and translate CR/LF.
        tty.setraw(slave)
        os.set_blocking(master, False)
        self.master, self._slave = master, slave
        self.slave_name = os.ttyname(slave)
        tmp = self.link_path.with_name(self.link_path.name + ".new")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(self.slave_name)
        tmp.replace(self.link_path)  # atomic: the path never dangles half-way

    def release_slave(self) -> None:
        """Stop holding the slave open (idempotent): ``host_absent()`` works from now on."""
        slave, self._slave = self._slave, None
        if slave is not None:
            with contextlib.suppress(OSError):
                os.close(slave)

    @property
    def released(self) -> bool:
        """True when plugged and the slave is no longer held here."""
        return self.master is not None and self._slave is None

    def host_absent(self) -> bool:
        """True when the slave was released and no process has it open (POLLHUP).

        While the slave is held here (or unplugged) the host cannot be seen: False.
        """
        master = self.master
        if master is None or self._slave is not None:
            return False
        poller = select.poll()
        poller.register(master, select.POLLHUP)
        try:
            events = poller.poll(0)
        except (OSError, ValueError):
            return False  # closed under us: unplugged, which is not "absent"
        return any(mask & select.POLLHUP for _, mask in events)

    def unplug(self) -> None:
        """Close the pty: the driver's next read fails as a pulled dongle's would."""
        master, slave = self.master, self._slave
        self.master = self._slave = None
        for fd in (master, slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            self.link_path.unlink()

    def close(self) -> None:
        """Unplug for good, and remove the temporary directory made for the link, if any."""
        self.unplug()
        if self._cleanup is not None:
            self._cleanup()

    @property
    def plugged(self) -> bool:
        """True while the pty is open."""
        return self.master is not None

    def write(self, data: bytes) -> bool:
        """Write all of ``data`` to the driver; False when unplugged, or when the tty has had
        no room for :data:`WRITE_PATIENCE_S` (nobody reads it: a real module's UART would
        lose the bytes too, and a caller holding a lock must not wait for ever)."""
        master = self.master
        if master is None:
            return False
        view = memoryview(data)
        deadline = time.monotonic() + WRITE_PATIENCE_S
        while view:
            try:
                written = os.write(master, view)
            except BlockingIOError:
                # The driver is slow: wait for room rather than lose bytes, for a while.
                if time.monotonic() >= deadline:
                    return False
                select.select([], [master], [], 0.1)
                continue
            except OSError:
                return False
            view = view[written:]
        return True

    def read(self) -> bytes:
        """Whatever the driver has written (b"" when nothing is waiting)."""
        master = self.master
        if master is None:
            return b""
        try:
            return os.read(master, 65536)
        except (BlockingIOError, OSError):
            return b""
