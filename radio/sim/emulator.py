"""What every module emulator shares: a pty, a thread answering the host's commands, and
telegram delivery in the module's own format.

An emulator is driven from tests and from ``concentratord simulate``: ``deliver()`` a
telegram (L C M A ... without link-layer CRCs) and the emulator writes it to the pty the
way its module family would, with its RSSI encoding and trailers.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
from abc import ABC, abstractmethod
from typing import ClassVar

from radio.frame import LinkMode
from radio.sim.pty import PtyDevice


class ModuleEmulator(ABC):
    """A module family's host protocol on a pty, answered by a background thread."""

    name: ClassVar[str]
    baudrate: ClassVar[int]

    def __init__(self, link_path: str | os.PathLike[str] | None = None) -> None:
        self.device = PtyDevice(link_path)
        self.mode: LinkMode | None = None  # the mode the host configured, if any
        self.sent = 0  # telegrams written to the pty
        self.not_delivered = 0  # telegrams offered while unplugged
        self.commands: list[bytes] = []  # every complete command the host sent
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = os.pipe()

    # -- for subclasses -----------------------------------------------------------------

    @abstractmethod
    def on_bytes(self, data: bytes) -> None:
        """Bytes from the host: parse commands, answer with ``self.send()``."""

    @abstractmethod
    def encode_telegram(self, frame: bytes, rssi_dbm: float, link_mode: LinkMode) -> bytes:
        """The bytes this module writes for a received telegram."""

    def reset_protocol_state(self) -> None:  # noqa: B027 - optional hook
        """Forget partial commands (on replug)."""

    # -- life cycle ---------------------------------------------------------------------

    @property
    def path(self) -> str:
        """The stable path the driver opens."""
        return str(self.device.link_path)

    def start(self) -> None:
        """Plug the device in and start answering."""
        self.device.plug()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-emulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop answering and unplug."""
        self._stop.set()
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.device.unplug()

    def close(self) -> None:
        """Stop and release everything (the pty's temporary directory too)."""
        self.stop()
        self.device.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def unplug(self) -> None:
        """Pull the dongle: the pty closes, the driver's reads fail."""
        with self._lock:
            self.device.unplug()
        os.write(self._wake_w, b"x")

    def replug(self) -> None:
        """Put it back: a new pty behind the same path; a real module restarts unconfigured."""
        with self._lock:
            self.mode = None
            self.reset_protocol_state()
            self.device.plug()
        os.write(self._wake_w, b"x")

    # -- traffic ------------------------------------------------------------------------

    def send(self, data: bytes) -> bool:
        """Write raw bytes to the host (answers, garbage); False when unplugged."""
        with self._lock:
            return self.device.write(data)

    def deliver(
        self, frame: bytes, rssi_dbm: float = -70.0, link_mode: LinkMode | None = None
    ) -> bool:
        """Hand a received telegram to the host; False (and counted) when unplugged."""
        mode = link_mode or (LinkMode.T1 if self.mode is LinkMode.T1 else LinkMode.C1)
        data = self.encode_telegram(frame, rssi_dbm, mode)
        with self._lock:
            ok = self.device.write(data)
        if ok:
            self.sent += 1
        else:
            self.not_delivered += 1
        return ok

    def _run(self) -> None:
        while not self._stop.is_set():
            master = self.device.master
            fds = [self._wake_r] + ([master] if master is not None else [])
            try:
                readable, _, _ = select.select(fds, [], [], 0.5)
            except (OSError, ValueError):
                continue  # unplugged between taking the fd and selecting on it (EBADF)
            if self._wake_r in readable:
                os.read(self._wake_r, 1024)
            if master is not None and master in readable:
                data = self.device.read()
                if data:
                    self.on_bytes(data)
