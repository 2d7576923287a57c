"""When interval values are taken: 5-minute (priority meters), hourly and daily boundaries
in the gateway's (possibly scaled) time, run by APScheduler.

APScheduler fires on real time; :class:`BoundaryTrigger` translates each boundary of the
injected clock into the real moment it will be reached, plus a grace period so telegrams
received just before the boundary have been processed when the snapshot runs. The job
itself asks :class:`IntervalTracker` which boundaries are due, so a late or missed firing
(a busy or suspended box) catches up instead of skipping an interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.triggers.base import BaseTrigger

from concentratord.clock import ScaledClock

PERIODS: dict[str, float] = {"5min": 300.0, "hourly": 3600.0, "daily": 86400.0}


def last_boundary(now: float, period: float) -> float:
    """The latest boundary at or before ``now`` (boundaries are multiples of the period
    since the epoch: on the hour and at midnight UTC)."""
    return math.floor(now / period) * period


class BoundaryTrigger(BaseTrigger):  # type: ignore[misc]
    """Fires at each ``period`` boundary of ``clock`` plus ``grace_s`` (both simulated)."""

    def __init__(self, clock: ScaledClock, period: float, grace_s: float) -> None:
        self.clock = clock
        self.period = period
        self.grace_s = grace_s

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        sim_now = self.clock()
        boundary = last_boundary(sim_now - self.grace_s, self.period) + self.period
        real = self.clock.real_time_of(boundary + self.grace_s)
        fire = datetime.fromtimestamp(real, UTC)
        if previous_fire_time is not None and fire <= previous_fire_time:
            real = self.clock.real_time_of(boundary + self.period + self.grace_s)
            fire = datetime.fromtimestamp(real, UTC)
        return fire

    def __getstate__(self) -> dict[str, Any]:  # pragma: no cover - never persisted
        raise TypeError("BoundaryTrigger is not serialisable")


class IntervalTracker:
    """Which interval ends are due, per kind, never skipping one and never doing one twice."""

    def __init__(self, clock: Callable[[], float], grace_s: float) -> None:
        self.clock = clock
        self.grace_s = grace_s
        self._done: dict[str, float] = {}

    def start(self, kind: str, now: float | None = None, floor: float = 0.0) -> None:
        """Begin counting from the current interval: its end is the first one due, unless
        that is at or before ``floor`` (the newest interval end already stored: a clock
        behind it must not label an interval again); then the first end after the floor.

        Also how counting resumes after the clock was not trusted: the intervals that
        passed meanwhile are not invented.
        """
        when = self.clock() if now is None else now
        period = PERIODS[kind]
        self._done[kind] = max(last_boundary(when, period), last_boundary(floor, period))

    def due(self, kind: str, passed: float | None = None) -> list[float]:
        """Interval ends of ``kind`` reached (plus grace) and not yet taken, oldest first.

        ``passed``: ends at or before this time instead (a frame received then proves every
        earlier frame has been through the pipeline: no grace needed)."""
        period = PERIODS[kind]
        when = self.clock() - self.grace_s if passed is None else passed
        reached = last_boundary(when, period)
        done = self._done.setdefault(kind, reached)
        ends = []
        end = done + period
        while end <= reached:
            ends.append(end)
            end += period
        if ends:
            self._done[kind] = ends[-1]
        return ends

    def next_end(self, kind: str) -> float | None:
        """The next interval end of ``kind`` to take (None: not started)."""
        done = self._done.get(kind)
        return None if done is None else done + PERIODS[kind]
