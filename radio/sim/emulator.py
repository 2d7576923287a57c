"""What every module emulator shares: a pty, a thread answering the host's commands, and
telegram delivery in the module's own format.

An emulator is driven from tests and from ``concentratord simulate``: ``deliver()`` a
telegram (L C M A ... without link-layer CRCs) and the emulator writes it to the pty the
way its module family would, with its RSSI encoding and trailers.

Power (decision 0009): the emulator sees whether the host has its port open (once the
host has written, see :class:`~radio.sim.pty.PtyDevice`) and whether a subclass put the
module in low-power mode (``set_low_power``). It is *awake* (listening, hearing
telegrams, with a host to hand them to) while running, plugged, with the port open and
not in low-power mode; ``awake_spans`` records those intervals in ``time.monotonic()``
seconds, so a test can measure the radio-on share of a run (``awake_seconds``,
``awake_share``). A telegram delivered while it is not awake is counted ``missed_asleep``.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from abc import ABC, abstractmethod
from typing import ClassVar

from radio.frame import LinkMode
from radio.sim.pty import PtyDevice

# While the host has the port closed the master polls POLLHUP without pause: the thread
# looks again this often instead, so a host reopening is seen within this time.
ABSENT_POLL_S = 0.01


class ModuleEmulator(ABC):
    """A module family's host protocol on a pty, answered by a background thread."""

    name: ClassVar[str]
    baudrate: ClassVar[int]

    def __init__(self, link_path: str | os.PathLike[str] | None = None) -> None:
        self.device = PtyDevice(link_path)
        self.mode: LinkMode | None = None  # the mode the host configured, if any
        self.sent = 0  # telegrams written to the pty
        self.not_delivered = 0  # telegrams offered while unplugged
        # Telegrams offered while the host had the port closed (a real module hears them,
        # the closed port discards them) or the module was in low-power mode (not heard).
        self.missed_asleep = 0
        self.low_power = False  # set by a subclass's low-power command (set_low_power)
        # Counted present until it can be seen (the slave released, see PtyDevice).
        self.host_present = True
        self.awake_spans: list[tuple[float, float]] = []  # closed (start, end) spans
        self._awake_since: float | None = None  # the open span's start, while awake
        self._running = False
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
        """Plug the device in and start answering (awake from now: it is listening)."""
        with self._lock:
            self.device.plug()
            self._running, self.host_present, self.low_power = True, True, False
            self._refresh_awake()
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
        with self._lock:
            self.device.unplug()
            self._running = False
            self._refresh_awake()

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
            self._refresh_awake()
        os.write(self._wake_w, b"x")

    def replug(self) -> None:
        """Put it back: a new pty behind the same path; a real module restarts unconfigured
        (and awake: the power was cut)."""
        with self._lock:
            self.mode = None
            self.reset_protocol_state()
            self.device.plug()
            self.host_present, self.low_power = True, False
            self._refresh_awake()
        os.write(self._wake_w, b"x")

    # -- power ---------------------------------------------------------------------------

    def set_low_power(self, on: bool) -> None:
        """Enter (``on``) or leave the module's low-power mode (for a subclass's command)."""
        with self._lock:
            self.low_power = on
            self._refresh_awake()

    @property
    def awake(self) -> bool:
        """Listening with a host to hand telegrams to: running, plugged, the host's port
        open, not in low-power mode."""
        return self._running and self.device.plugged and self.host_present and not self.low_power

    def _refresh_awake(self) -> None:
        """Open or close the awake span after a change of state (with ``_lock`` held)."""
        now = time.monotonic()
        if self.awake and self._awake_since is None:
            self._awake_since = now
        elif not self.awake and self._awake_since is not None:
            self.awake_spans.append((self._awake_since, now))
            self._awake_since = None

    def awake_seconds(self, since: float | None = None, until: float | None = None) -> float:
        """Seconds awake between ``since`` and ``until`` (``time.monotonic()`` readings;
        default: from the start, until now), the current span counted up to now."""
        now = time.monotonic()
        with self._lock:
            spans = list(self.awake_spans)
            if self._awake_since is not None:
                spans.append((self._awake_since, now))
        low = float("-inf") if since is None else since
        high = now if until is None else until
        return sum(max(0.0, min(end, high) - max(start, low)) for start, end in spans)

    def awake_share(self, since: float, until: float | None = None) -> float:
        """The share (0..1) of ``since`` .. ``until`` (default now) spent awake."""
        high = time.monotonic() if until is None else until
        if high <= since:
            return 0.0
        return self.awake_seconds(since, high) / (high - since)

    def _set_host_present(self, present: bool) -> None:
        with self._lock:
            if self.host_present != present:
                self.host_present = present
                self._refresh_awake()

    # -- traffic ------------------------------------------------------------------------

    def send(self, data: bytes) -> bool:
        """Write raw bytes to the host (answers, garbage); False when unplugged.

        Written even while the host has the port closed: the pty keeps them for the next
        opener, as stale bytes on a line would be (the driver discards them on open).
        """
        with self._lock:
            return self.device.write(data)

    def deliver(
        self, frame: bytes, rssi_dbm: float = -70.0, link_mode: LinkMode | None = None
    ) -> bool:
        """Hand a received telegram to the host; False when unplugged (``not_delivered``),
        when the host has the port closed or the module is in low-power mode
        (``missed_asleep``)."""
        mode = link_mode or (LinkMode.T1 if self.mode is LinkMode.T1 else LinkMode.C1)
        data = self.encode_telegram(frame, rssi_dbm, mode)
        with self._lock:
            # Asked of the pty itself, not of host_present: that lags a reopen by up to
            # ABSENT_POLL_S, and a telegram must not be written into a closed port.
            if self.device.plugged and (self.low_power or self.device.host_absent()):
                self.missed_asleep += 1
                return False
            ok = self.device.write(data)
        if ok:
            self.sent += 1
        else:
            self.not_delivered += 1
        return ok

    def _wait_wake(self, timeout: float) -> None:
        """Sleep up to ``timeout`` or until woken through the wake pipe."""
        readable, _, _ = select.select([self._wake_r], [], [], timeout)
        if readable:
            os.read(self._wake_r, 1024)

    def _run(self) -> None:
        while not self._stop.is_set():
            master = self.device.master
            if master is None:
                self._wait_wake(0.5)
                continue
            if not self.host_present:
                self._wait_wake(ABSENT_POLL_S)
                if self.device.master == master and not self.device.host_absent():
                    self._set_host_present(True)
                continue
            poller = select.poll()
            poller.register(self._wake_r, select.POLLIN)
            poller.register(master, select.POLLIN)  # POLLHUP is always reported
            try:
                events = dict(poller.poll(500))
            except (OSError, ValueError):
                continue  # unplugged between taking the fd and polling it
            if events.get(self._wake_r, 0) & select.POLLIN:
                os.read(self._wake_r, 1024)
            mask = events.get(master, 0)
            if mask & select.POLLNVAL:
                continue  # closed under us (unplugged)
            if mask & select.POLLIN:
                data = self.device.read()
                if data:
                    self._host_spoke(master)
                    self.on_bytes(data)
            if mask & select.POLLHUP and self.device.released:
                self._set_host_present(False)

    def _host_spoke(self, master: int) -> None:
        """The host is talking to us: stop holding the slave, so that its close shows."""
        with self._lock:
            if self.device.master == master:
                self.device.release_slave()
