"""Delays between attempts to reach something that went away: a serial port, a broker.

Pure arithmetic (no clock, no sleeping): the caller waits. One implementation for the radio
and the uplink, which may not import each other (docs/decisions/0001).
"""

from __future__ import annotations

import random


class Backoff:
    """``initial`` seconds, times ``factor`` after each attempt, at most ``maximum``; reset
    after a success.

    With ``rng``, each delay is scaled by a random factor in [0.5, 1) ("equal jitter") so
    that a fleet of gateways that lost the same broker does not come back in step.
    """

    def __init__(
        self,
        initial: float = 0.1,
        maximum: float = 5.0,
        factor: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 < initial <= maximum or factor < 1:
            raise ValueError("need 0 < initial <= maximum and factor >= 1")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.rng = rng
        self._next = initial

    def next_delay(self) -> float:
        """The delay before the next attempt (and grow the one after)."""
        delay = self._next
        self._next = min(self._next * self.factor, self.maximum)
        if self.rng is not None:
            delay *= 0.5 + self.rng.random() / 2
        return delay

    def reset(self) -> None:
        """Start again from the initial delay."""
        self._next = self.initial
