"""Whether the gateway's clock may label an interval (decision 0006, "Time you can trust").

A Raspberry Pi has no real-time clock: after a power cut it boots with the time it saved at
shutdown (fake-hwclock) until NTP steps it forward, or it stays wrong while offline. An
interval labelled with such a time is a reading the head-end files under the wrong hour, or
a batch that repeats one it already has under a new message id. So the daemon takes interval
values only while the clock is *trusted*: synchronised, and not behind the newest interval
end it has already stored (the *floor*). Readings and alarms go on regardless; documents
made while the clock is not trusted say so (``clock_synchronised: false``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

TIMESYNCD_FLAG = "/run/systemd/timesync/synchronized"

# adjtimex(2): the clock state TIME_ERROR, and STA_UNSYNC in the status word.
_TIME_ERROR = 5
_STA_UNSYNC = 0x0040


class SyncSource(Protocol):
    """Tells whether the system clock is synchronised to a time reference."""

    name: str

    def synchronised(self) -> bool:
        """True when the clock is known good."""


class Trusted:
    """A box with a battery-backed RTC or a GPS: the clock is always right."""

    name = "trusted"

    def synchronised(self) -> bool:
        """Always True."""
        return True


class FlagFile:
    """Synchronised while a flag file exists (systemd-timesyncd touches
    ``/run/systemd/timesync/synchronized`` once it has synchronised; other NTP clients can be
    made to do the same)."""

    name = "file"

    def __init__(self, path: str) -> None:
        self.path = path

    def synchronised(self) -> bool:
        """Whether the flag file exists."""
        return os.path.exists(self.path)


class _Timex(ctypes.Structure):
    # struct timex (linux/timex.h) up to ``status``; the rest is room the kernel writes into.
    _fields_ = (
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("_rest", ctypes.c_byte * 256),
    )


class KernelNtp:
    """The kernel's own verdict (adjtimex with no modes: read only), which every NTP client
    (timesyncd, chrony, ntpd) keeps up to date; ``timedatectl``'s NTPSynchronized is this."""

    name = "kernel"

    def __init__(self) -> None:
        path = ctypes.util.find_library("c")
        self._libc = ctypes.CDLL(path, use_errno=True) if path else None

    def synchronised(self) -> bool:
        """False when the kernel reports TIME_ERROR or STA_UNSYNC (or cannot be asked)."""
        if self._libc is None:
            return False
        timex = _Timex()
        state = int(self._libc.adjtimex(ctypes.byref(timex)))
        return state not in (-1, _TIME_ERROR) and not timex.status & _STA_UNSYNC


class SystemSync:
    """The default: timesyncd's flag file, else the kernel's NTP status."""

    name = "system"

    def __init__(self, flag_file: str = TIMESYNCD_FLAG) -> None:
        self._flag = FlagFile(flag_file)
        self._kernel = KernelNtp()

    def synchronised(self) -> bool:
        """Whether either source says the clock is synchronised."""
        return self._flag.synchronised() or self._kernel.synchronised()


def sync_source(source: str, synchronised_file: str) -> SyncSource:
    """The source named by ``[clock] source`` (``system``, ``file`` or ``trusted``)."""
    if source == "trusted":
        return Trusted()
    if source == "file":
        return FlagFile(synchronised_file)
    if source == "system":
        return SystemSync(synchronised_file)
    raise ValueError(f"unknown clock source {source!r}")


@dataclass(frozen=True)
class ClockVerdict:
    """The clock at one moment: synchronised, and whether it is behind the floor."""

    synchronised: bool
    behind_store: bool

    @property
    def trusted(self) -> bool:
        """Whether interval values may be taken (labelled with this clock)."""
        return self.synchronised and not self.behind_store


class TimeKeeper:
    """Holds the floor and judges the clock against it and its sync source.

    ``floor``: the newest interval end stored (the store's ``newest_interval_end``), raised
    by :meth:`taken` as intervals are taken. One owner: the daemon's interval loop.
    """

    def __init__(self, clock: Callable[[], float], source: SyncSource, floor: float) -> None:
        self.clock = clock
        self.source = source
        self.floor = floor
        self.verdict = ClockVerdict(synchronised=True, behind_store=False)

    def check(self) -> tuple[ClockVerdict, ClockVerdict]:
        """Judge the clock now: (previous verdict, current verdict)."""
        previous = self.verdict
        now = self.clock()
        self.verdict = ClockVerdict(
            synchronised=self.source.synchronised(), behind_store=now < self.floor
        )
        return previous, self.verdict

    def taken(self, interval_end: float) -> None:
        """An interval ending then was taken: the clock must never label one at or before."""
        self.floor = max(self.floor, interval_end)
