"""Injected time: the daemon's only source of "now".

A :class:`ScaledClock` runs simulated time at ``scale`` times real time from a chosen
start, so tests and demos can pass an hour in ten seconds (``schedule.time_scale``).
"""

from __future__ import annotations

import time
from collections.abc import Callable


class ScaledClock:
    """Seconds since the epoch, running ``scale`` times faster than ``real``."""

    def __init__(
        self,
        scale: float = 1.0,
        start: float | None = None,
        real: Callable[[], float] = time.time,
        real_start: float | None = None,
    ) -> None:
        if scale <= 0:
            raise ValueError("time scale must be positive")
        self.scale = scale
        self._real = real
        self._real_start = real() if real_start is None else real_start
        self._start = self._real_start if start is None else start

    def __call__(self) -> float:
        return self._start + (self._real() - self._real_start) * self.scale

    def real_delay(self, sim_seconds: float) -> float:
        """Real seconds until ``sim_seconds`` of simulated time have passed."""
        return max(sim_seconds, 0.0) / self.scale

    def real_time_of(self, sim_time: float) -> float:
        """The real epoch time at which the clock will read ``sim_time``."""
        return self._real_start + (sim_time - self._start) / self.scale
