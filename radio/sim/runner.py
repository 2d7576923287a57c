"""Pacing a simulated field in real time (times a speed-up) into a module emulator.

The runner is the only part of the simulator that looks at a clock, and the clock is
given to it: simulated time = (clock() - start) x speed. A thread asks the source for the
transmissions due by now and hands each one that was not lost on the air to the emulator,
which writes it to the pty in its module's format. A telegram in a link mode the host did
not configure is not heard (a module in C1 does not receive T1).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from radio.frame import LinkMode
from radio.sim.emulator import ModuleEmulator
from radio.sim.field import Transmission
from radio.sim.truth import TruthLog

log = logging.getLogger(__name__)

_HEARS = {
    LinkMode.C1: {LinkMode.C1},
    LinkMode.T1: {LinkMode.T1},
    LinkMode.S1: {LinkMode.S1},
    LinkMode.C1T1: {LinkMode.C1, LinkMode.T1},
}


class Source(Protocol):
    """What the runner paces: a :class:`~radio.sim.field.Field` or a replayed schedule."""

    def events_until(self, t_sim: float) -> list[Transmission]:
        """Transmissions starting after the last call and at or before ``t_sim``."""
        ...

    def next_time(self) -> float | None:
        """When the next transmission starts (None: no more)."""
        ...


class ScheduleSource:
    """A pre-generated list or file of transmissions, served like a field."""

    def __init__(self, transmissions: Iterable[Transmission]) -> None:
        self._it: Iterator[Transmission] = iter(transmissions)
        self._next: Transmission | None = next(self._it, None)

    def events_until(self, t_sim: float) -> list[Transmission]:
        """Transmissions starting at or before ``t_sim`` not yet served."""
        out: list[Transmission] = []
        while self._next is not None and self._next.t <= t_sim:
            out.append(self._next)
            self._next = next(self._it, None)
        return out

    def next_time(self) -> float | None:
        """When the next transmission starts."""
        return None if self._next is None else self._next.t


class FieldRunner:
    """Delivers a source's transmissions to ``emulator`` at ``speed`` x real time."""

    def __init__(
        self,
        source: Source,
        emulator: ModuleEmulator,
        clock: Callable[[], float],
        *,
        speed: float = 1.0,
        truth: TruthLog | None = None,
        max_sleep: float = 0.05,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.source = source
        self.emulator = emulator
        self.clock = clock
        self.speed = speed
        self.truth = truth  # telegrams that never reached the pty are taken out of it
        self.max_sleep = max_sleep
        self.delivered = 0
        self.lost_on_air = 0
        self.not_heard = 0  # link mode the module was not listening in
        self.not_delivered = 0  # the emulator was unplugged
        self._start: float | None = None
        self._sim_offset = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sim_now(self) -> float:
        """The simulated time now (0 before start)."""
        if self._start is None:
            return self._sim_offset
        return self._sim_offset + (self.clock() - self._start) * self.speed

    def clock_at(self, t_sim: float) -> float:
        """The clock reading at which simulated time ``t_sim`` is (was) reached."""
        if self._start is None:
            raise RuntimeError("the runner has not started")
        return self._start + (t_sim - self._sim_offset) / self.speed

    def start(self, sim_offset: float = 0.0) -> None:
        """Start delivering, with simulated time ``sim_offset`` now."""
        if self._thread is not None:
            raise RuntimeError("the runner is already running")
        self._sim_offset = sim_offset
        self._start = self.clock()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="field-runner", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the thread to stop without waiting for it (see :meth:`stop`)."""
        self._stop.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop delivering and wait for the thread.

        A module whose host does not read blocks the thread in the pty write, as a real
        serial line would; closing the emulator after :meth:`request_stop` frees it.
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def step(self) -> int:
        """Deliver everything due by now; the number of telegrams written."""
        before = self.delivered
        for tx in self.source.events_until(self.sim_now()):
            self._deliver(tx)
        return self.delivered - before

    def _deliver(self, tx: Transmission) -> None:
        if tx.lost:
            self.lost_on_air += 1
            return
        mode = self.emulator.mode
        if mode is not None and tx.link_mode not in _HEARS[mode]:
            self.not_heard += 1
            self._forget(tx)
            return
        if self.emulator.deliver(tx.frame, tx.rssi_dbm, tx.link_mode):
            self.delivered += 1
        else:
            self.not_delivered += 1
            self._forget(tx)

    def _forget(self, tx: Transmission) -> None:
        if self.truth is not None:
            self.truth.discard(tx)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:
                if self._stop.is_set():  # the emulator was closed under a blocked write
                    return
                log.exception("field runner failed")  # not a silent, half-dead simulator
                raise
            nxt = self.source.next_time()
            wait = self.max_sleep
            if nxt is not None:
                wait = min(wait, max(0.0, (nxt - self.sim_now()) / self.speed))
            self._stop.wait(wait)
