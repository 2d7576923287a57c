"""The emulated wired bus and a master on it, for the tests of bus/."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from bus.master import MbusMaster
from bus.transport import BusTransport
from radio.sim.mbus_bus import Collision, EmulatedSlave, MbusBusEmulator

BAUD = 9600  # a pty ignores the rate; 9600 keeps the answer window short
MARGIN_S = 0.005  # a pty has no USB latency; keeps the silent probes of a scan short


@contextmanager
def bus(
    slaves: Sequence[EmulatedSlave], *, echo: bool = False, collision: Collision = "merge"
) -> Iterator[tuple[MbusBusEmulator, MbusMaster]]:
    """An emulator with ``slaves`` and an open master on its pty; both closed after."""
    emulator = MbusBusEmulator(slaves, echo=echo, collision=collision)
    emulator.start()
    try:
        with BusTransport(emulator.path, BAUD, margin_s=MARGIN_S) as transport:
            yield emulator, MbusMaster(transport)
    finally:
        emulator.stop()
