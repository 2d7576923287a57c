"""Whether the gateway works, for systemd's watchdog (docs/operations.md, "Watchdog").

``WATCHDOG=1`` is sent only while every loop makes progress within its own deadline:

- the radio loop: a telegram within ``watchdog.radio_silence`` seconds of gateway time (a
  field is never that quiet: every meter sends at least every few minutes or hours);
- each tenant's uplink loop: a pass of its publisher (a batch of publishes and their
  acknowledgements) finishes within ``watchdog.uplink_stall`` seconds. A broker that is
  down is not a stall: the publisher waits for the connection, which a restart would not
  bring back.

A stalled loop stops the pings, so systemd restarts the daemon after ``WatchdogSec``; the
reason is logged first, once per stall.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deadlines:
    """``watchdog.radio_silence`` (gateway seconds) and ``watchdog.uplink_stall`` (seconds)."""

    radio_silence: float
    uplink_stall: float


class Health:
    """The loops' progress, judged against their deadlines."""

    def __init__(
        self,
        deadlines: Deadlines,
        *,
        clock: Callable[[], float],
        last_frame: Callable[[], float],
        publishing_since: Callable[[], Mapping[str, float | None]],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``last_frame``: gateway time of the newest telegram (or the start);
        ``publishing_since``: per tenant, the monotonic time its publisher's current pass
        began (None: idle or waiting for its broker)."""
        self.deadlines = deadlines
        self._clock = clock
        self._last_frame = last_frame
        self._publishing_since = publishing_since
        self._monotonic = monotonic
        self.stalled: str | None = None

    def check(self) -> str | None:
        """The reason the first stalled loop is stalled, or None when all make progress.
        A new stall is logged (an error) once; recovery too."""
        reason = self._reason()
        if reason != self.stalled:
            if reason is not None:
                log.error("watchdog: %s; not confirming to systemd any more", reason)
            else:
                log.warning("watchdog: every loop makes progress again (was: %s)", self.stalled)
        self.stalled = reason
        return reason

    def _reason(self) -> str | None:
        silent = self._clock() - self._last_frame()
        if silent > self.deadlines.radio_silence:
            return (
                f"the radio loop stalled: no telegram for {silent:.0f} s "
                f"(watchdog.radio_silence = {self.deadlines.radio_silence:g} s)"
            )
        now = self._monotonic()
        for tenant, since in self._publishing_since().items():
            stall = self.deadlines.uplink_stall
            if since is not None and now - since > stall:
                return (
                    f"the uplink loop of tenant {tenant} stalled: one publishing pass for "
                    f"{now - since:.0f} s (watchdog.uplink_stall = {stall:g} s)"
                )
        return None
