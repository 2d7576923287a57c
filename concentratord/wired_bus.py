"""One ``[[mbus]]`` bus kept polled: its port, its meters' schedule, their answers handed on.

The loop of one wired bus (decision 0011), beside the radio's frame loop: open the port,
poll the meter whose time has come, hand its answer to the daemon (``take``: the same
pipeline, store and uplink as radio telegrams), sleep until the next is due. The bus is
half-duplex and the master one exchange at a time (:class:`bus.master.AsyncMaster`):
``concentratorctl mbus scan|read`` wait between two polls, and polls wait for them.

- Schedule: every meter is read once at start, then every ``interval`` gateway seconds
  from its last due time (a poll that ran a little late does not shift the next); a
  meter a whole interval late (the port was out) is read once, and then an interval
  after that read, not once per interval missed.
- A meter that does not answer is counted (``no_answer``) and read again at its next
  time; silence long enough raises ``METER_SILENT`` as for a radio meter (the field
  watch judges it from the answers heard, concentratord/field_watch.py).
- The port lost (a USB converter unplugged: reads fail) closes the port; it is opened
  again every ``REOPEN_S`` real seconds until it comes back (``reconnects`` counts each
  return), and then every primary meter's link is reset (SND_NKE) before its next read
  (a secondary meter's selection starts a new link anyway). A meter
  that was due meanwhile is read as soon as the port is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from bus.answer import WiredAnswer
from bus.master import AsyncMaster, MasterError, MbusMaster, SecondaryScanResult, SlaveInfo
from bus.transport import BusError, BusTransport
from concentratord.clock import ScaledClock
from concentratord.config.mbus import MbusConfig, MbusMeterConfig, secondary_of
from protocols.errors import DecodeError
from protocols.mbus.frames import LongFrame
from protocols.mbus.secondary import ANY

log = logging.getLogger(__name__)

REOPEN_S: Final = 0.5  # real seconds between attempts to open a lost port (a cheap open())
IDLE_S: Final = 60.0  # a bus without meters to poll looks at its port this often


@dataclass
class PolledMeter:
    """One configured wired meter and what its polls brought."""

    config: MbusMeterConfig
    interval_s: float
    baud: int
    due: float  # gateway time of its next poll
    polls: int = 0
    answers: int = 0
    no_answer: int = 0
    linked: bool = False  # its link reset (SND_NKE) since the port was opened
    last_answer: float | None = None
    last_error: str | None = None
    meter: str | None = None  # MAN:ID of the last answer

    @property
    def address(self) -> str:
        """The address as configured (primary number, or secondary hex digits)."""
        return self.config.label

    def status(self) -> dict[str, Any]:
        """What ``status`` reports of this meter."""
        return {
            "address": self.address,
            "meter": self.meter,
            "interval_s": self.interval_s,
            "polls": self.polls,
            "answers": self.answers,
            "no_answer": self.no_answer,
            "last_answer": self.last_answer,
            "last_error": self.last_error,
        }


@dataclass
class BusCounters:
    """The bus's figures (``status``; ``/metrics`` reads them from there)."""

    polls: int = 0
    answers: int = 0
    no_answer: int = 0
    port_errors: int = 0  # the port failed (unplugged, or refused to open)
    reconnects: int = 0  # the port came back after failing


class WiredBus:
    """One bus: the port, the master, the meters' schedule and the loop that polls them."""

    def __init__(
        self,
        config: MbusConfig,
        *,
        clock: ScaledClock,
        take: Callable[[WiredAnswer], Awaitable[None]],
        transport: BusTransport | None = None,
    ) -> None:
        self.config = config
        self.port = config.port
        self._clock = clock
        self._take = take
        self.transport = transport or BusTransport(
            config.port, config.baud, margin_s=config.answer_margin_ms / 1000
        )
        self.master = AsyncMaster(MbusMaster(self.transport, retries=config.retries))
        start = clock()
        self.meters = [
            PolledMeter(m, float(m.interval or config.interval), m.baud or config.baud, start)
            for m in config.meter
        ]
        self.counters = BusCounters()
        self.problem: str | None = None  # why the port is not open, while it is not
        self._failed = False  # the port failed: its return counts as a reconnect

    # -- the loop -----------------------------------------------------------------------

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            if not self.transport.is_open and not await self._open():
                await asyncio.sleep(REOPEN_S)
                continue
            if not self.meters:
                await asyncio.sleep(IDLE_S)  # no polls: the port is kept for scans and reads
                continue
            meter = min(self.meters, key=lambda m: m.due)
            delay = self._clock.real_delay(meter.due - self._clock())
            if delay > 0:
                await asyncio.sleep(delay)
                continue  # look again: the port may have gone meanwhile
            await self.poll(meter)

    async def _open(self) -> bool:
        try:
            await self.master.call(lambda m: m.transport.open())
        except BusError as err:
            if self.problem is None:
                log.warning("mbus %s: %s (trying again every %g s)", self.port, err, REOPEN_S)
                self.counters.port_errors += 1
            self.problem = str(err)
            self._failed = True
            return False
        if self._failed:
            self.counters.reconnects += 1
            log.warning("mbus %s: port open again", self.port)
        self._failed = False
        self.problem = None
        for meter in self.meters:
            meter.linked = False
        return True

    async def poll(self, meter: PolledMeter) -> None:
        """Read ``meter`` once; its answer goes to ``take``; its next time is set."""
        meter.polls += 1
        self.counters.polls += 1
        try:
            frames = await self.master.call(lambda m: self._read(m, meter))
        except BusError as err:
            self._port_lost(err)
            return  # still due: read as soon as the port is back
        except (MasterError, DecodeError) as err:
            meter.no_answer += 1
            self.counters.no_answer += 1
            meter.linked = False  # reset its link before the next try
            meter.last_error = str(err)
            log.debug("mbus %s: meter %s: %s", self.port, meter.address, err)
        else:
            now = self._clock()
            answer = WiredAnswer(tuple(frames), now, self.port, meter.address, meter.interval_s)
            meter.answers += 1
            self.counters.answers += 1
            meter.last_answer, meter.last_error = now, None
            with contextlib.suppress(DecodeError):
                meter.meter = answer.sender().key
            await self._take(answer)
        self._schedule(meter)

    def _schedule(self, meter: PolledMeter) -> None:
        meter.due += meter.interval_s
        now = self._clock()
        if meter.due <= now:  # a whole interval late (the port was out): one from now
            meter.due = now + meter.interval_s

    def _read(self, master: MbusMaster, meter: PolledMeter) -> list[LongFrame]:
        """One meter's readout, in the master's thread (its link reset when needed)."""
        address = meter.config.address
        reset = isinstance(address, int) and not meter.linked
        meter.linked = True
        return self._readout(master, address, meter.baud, reset)

    def _readout(
        self, master: MbusMaster, address: int | str, baud: int, reset: bool
    ) -> list[LongFrame]:
        """At ``baud``, the link reset first (SND_NKE, primary addresses) when ``reset``,
        then REQ_UD2 (primary) or selection and REQ_UD2 (secondary); the bus's rate after."""
        transport = master.transport
        transport.set_baudrate(baud)
        try:
            if isinstance(address, int):
                if reset:
                    master.send_nke(address)  # unanswered: the read says what is wrong
                return master.read(address)
            return master.read_secondary(secondary_of(address))
        finally:
            if transport.is_open:
                transport.set_baudrate(self.config.baud)

    def _port_lost(self, err: BusError) -> None:
        self.counters.port_errors += 1
        self.problem = str(err)
        self._failed = True
        self.transport.close()
        log.warning("mbus %s: %s (trying again every %g s)", self.port, err, REOPEN_S)

    # -- the technician's commands ------------------------------------------------------

    async def scan(
        self,
        secondary: bool,
        on_found: Callable[[SlaveInfo], None],
        manufacturers: list[int] | None = None,
        addresses: Iterable[int] = range(0, 251),
    ) -> dict[str, Any]:
        """Scan the bus between polls; ``on_found`` is called from the master's thread for
        each slave. Returns the summary (``found``, ``probes``, ...). Raises BusError."""
        self._require_open()

        def work(master: MbusMaster) -> dict[str, Any]:
            if secondary:
                result: SecondaryScanResult = master.scan_secondary(ANY, manufacturers, on_found)
                return {
                    "found": len(result.found),
                    "probes": result.probes,
                    "collisions": result.collisions,
                    "unresolved": len(result.unresolved),
                }
            before = master.probes
            found = 0
            for address in addresses:
                for info in master.scan_primary([address]):
                    on_found(info)
                    found += 1
            return {"found": found, "probes": master.probes - before}

        try:
            return await self.master.scan(work)
        except BusError as err:
            self._port_lost(err)
            raise
        finally:
            for meter in self.meters:
                meter.linked = False  # the scan reset every link

    async def read(self, address: int | str) -> list[LongFrame]:
        """Read one slave now (a primary address or 16 hex digits); MasterError,
        BusError or ValueError (a bad address)."""
        self._require_open()
        if isinstance(address, str):
            address = address.upper()
            secondary_of(address)  # ValueError before the bus is taken
        # A configured meter is read at its own rate; any other slave at the bus's.
        label = str(address)
        baud = next((m.baud for m in self.meters if m.address == label), self.config.baud)
        try:
            return await self.master.call(lambda m: self._readout(m, address, baud, True))
        except BusError as err:
            self._port_lost(err)
            raise

    async def close(self) -> None:
        """Close the port once the exchange in progress (if any) is over."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.master.call(lambda m: None), 5.0)
        self.transport.close()

    def _require_open(self) -> None:
        if not self.transport.is_open:
            raise BusError(f"{self.port} is not open: {self.problem or 'not yet opened'}")

    def status(self) -> dict[str, Any]:
        """What ``status`` reports of this bus."""
        return {
            "port": self.port,
            "baud": self.config.baud,
            "open": self.transport.is_open,
            "problem": self.problem,
            "polls": self.counters.polls,
            "answers": self.counters.answers,
            "no_answer": self.counters.no_answer,
            "port_errors": self.counters.port_errors,
            "reconnects": self.counters.reconnects,
            "meters": [m.status() for m in self.meters],
        }
