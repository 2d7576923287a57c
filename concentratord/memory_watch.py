"""``limits.memory_bytes``: the gateway alarm ``MEMORY_HIGH`` while the daemon's resident
memory is above it (config/README.md, "Profiles"). A report, not a cap: systemd's
``MemoryMax=`` caps."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Literal

log = logging.getLogger(__name__)

EVERY_S = 30.0
CLEAR_BELOW = 0.9  # of the limit: no alarm flapping around the line


def resident_bytes() -> int:
    """This process's resident memory (``/proc/self/statm``, pages in memory)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


class MemoryWatch:
    """Raises ``MEMORY_HIGH`` above ``limit`` bytes and clears it below 90 % of it."""

    def __init__(
        self,
        limit: int,
        alarm: Callable[[str, str, Literal["raised", "cleared"]], None],
        measure: Callable[[], int] = resident_bytes,
    ) -> None:
        """``alarm(name, detail, state)``: the gateway's alarms (``raised``/``cleared``)."""
        self.limit = limit
        self._alarm = alarm
        self._measure = measure
        self.high = False

    def check(self) -> None:
        """Compare once; raise or clear on a change."""
        rss = self._measure()
        mib = rss / 2**20
        if not self.high and rss > self.limit:
            self.high = True
            self._alarm(
                "MEMORY_HIGH",
                f"resident memory {mib:.0f} MiB is above limits.memory_bytes "
                f"({self.limit / 2**20:.0f} MiB)",
                "raised",
            )
        elif self.high and rss < CLEAR_BELOW * self.limit:
            self.high = False
            self._alarm("MEMORY_HIGH", f"resident memory {mib:.0f} MiB", "cleared")

    async def run(self) -> None:
        """Check every :data:`EVERY_S` seconds until cancelled."""
        while True:
            try:
                self.check()
            except OSError as err:  # no /proc: nothing to report
                log.warning("memory not watched: %s", err)
                return
            await asyncio.sleep(EVERY_S)
