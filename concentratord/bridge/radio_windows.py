"""The radio of a battery bridge, listening in windows (decision 0009).

One loop on the gateway clock: listen for a window, put the module to sleep
(:meth:`Sleeper.sleep`: its low-power mode where the family has one, else the port closed),
sleep, wake it (reopened and reconfigured), and again. The window is ``bridge.listen``
gateway seconds, or with ``"auto"`` long enough to hear every meter served at least once:
1.5 times the longest transmission interval among them (:func:`auto_listen`). Telegrams
that come while the radio sleeps are not heard; the field watch judges silence on the
time listened (:meth:`RadioWindows.listened`), and the watchdog does not count a sleep as
a stalled radio.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Protocol

from concentratord.bridge.spans import DAY, OnSpans
from concentratord.clock import ScaledClock
from concentratord.config.bridge import MIN_LISTEN_S

log = logging.getLogger(__name__)

# A window while some meter served has no interval estimate yet (it needs four telegrams):
# long enough for meters that send every 15 minutes to be heard four times.
LEARNING_LISTEN_S = 3600.0
AUTO_FACTOR = 1.5  # a window covers this many of the longest interval: one telegram at least


class Sleeper(Protocol):
    """What the windows need of a radio driver (radio/driver.py)."""

    @property
    def sleep_method(self) -> str:
        """What sleeping means for this module at best: ``low-power mode`` or ``port
        closed``."""
        ...

    @property
    def last_sleep(self) -> str | None:
        """What the last sleep achieved (a module may refuse its low-power mode)."""
        ...

    async def sleep(self) -> None:
        """Stop listening until :meth:`wake`."""
        ...

    async def wake(self, start_timeout: float = 10.0) -> None:
        """Listen again (reopened and reconfigured); ModuleError when it does not answer."""
        ...


def auto_listen(intervals: Iterable[float | None]) -> float:
    """The window that hears every meter at least once: ``AUTO_FACTOR`` times the longest
    of the ``intervals`` of the meters served, at least ``MIN_LISTEN_S``; while one is
    unknown (or none is heard yet), :data:`LEARNING_LISTEN_S`."""
    known = list(intervals)
    if not known or any(i is None for i in known):
        return LEARNING_LISTEN_S
    longest = max(i for i in known if i is not None)
    return min(DAY, max(float(MIN_LISTEN_S), AUTO_FACTOR * longest))


class RadioWindows:
    """Listening windows of ``radio`` (awake when :meth:`run` starts)."""

    def __init__(
        self,
        radio: Sleeper,
        *,
        clock: ScaledClock,
        listen_s: Callable[[], float],
        sleep_s: float,
        wake_timeout: float = 10.0,
    ) -> None:
        """``listen_s()``: the length of the next window, asked as it opens."""
        self.radio = radio
        self.clock = clock
        self.listen_s = listen_s
        self.sleep_s = sleep_s
        self.wake_timeout = wake_timeout
        self.started = clock()
        self.spans = OnSpans()
        self.wake_failures = 0
        self.window_s: float | None = None  # the current (or last) window's length

    @property
    def listening(self) -> bool:
        """Whether a window is open."""
        return self.spans.on

    async def _until(self, when: float) -> None:
        await asyncio.sleep(self.clock.real_delay(when - self.clock()))

    async def run(self) -> None:
        """Windows until cancelled (the radio is left as it is: the daemon stops it)."""
        self.spans.begin(self.clock())
        while True:
            self.window_s = self.listen_s()
            await self._until(self.clock() + self.window_s)
            try:
                await self.radio.sleep()
            except Exception:  # the port is closed whatever the module said: asleep
                log.exception("radio did not go to sleep cleanly")
            self.spans.end(self.clock())
            await self._wake_after(self.sleep_s)

    async def _wake_after(self, sleep_s: float) -> None:
        """Sleep, then wake the radio; a radio that does not answer sleeps another round."""
        while True:
            await self._until(self.clock() + sleep_s)
            self.spans.begin(self.clock())  # the module is on while it is woken
            try:
                await self.radio.wake(self.wake_timeout)
                return
            except Exception as err:  # ModuleError, a port gone: try after another sleep
                self.wake_failures += 1
                self.spans.end(self.clock())
                log.error("radio did not wake (%s): trying again in %.0f s", err, sleep_s)

    def listened(self, since: float, until: float) -> float:
        """Gateway seconds the radio listened within ``[since, until)`` (all of it before
        the first window: the bridge had not started)."""
        before = max(0.0, min(until, self.started) - since)
        return before + self.spans.seconds(max(since, self.started), until)

    def silence_from(self) -> float:
        """Where the radio's silence starts counting for the watchdog: the present while it
        sleeps (a sleeping radio is not a stalled one), else the opening of the window."""
        return self.spans.last_begin if self.listening else self.clock()

    def budget(self) -> dict[str, object]:
        """The radio's share of the power budget over the last day, measured, next to what
        the configuration asks."""
        now = self.clock()
        since = max(self.started, now - DAY)
        span = now - since
        window = self.window_s if self.window_s is not None else self.listen_s()
        return {
            "radio_sleep": self.radio.last_sleep or self.radio.sleep_method,
            "radio_listening": self.listening,
            "radio_on_share": round(self.spans.seconds(since, now) / span, 4) if span else 1.0,
            "radio_on_share_configured": round(window / (window + self.sleep_s), 4),
            "radio_windows": self.spans.count,
            "radio_wake_failures": self.wake_failures,
        }
