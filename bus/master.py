"""The request manager of the wired M-Bus master: reads, selections and scans over one
:class:`~bus.transport.BusTransport` (EN 13757-2 link layer, EN 13757-3 addressing).

- ``send_nke(address)``: link reset; the slave acknowledges with E5.
- ``read(address)``: REQ_UD2 and the slave's RSP_UD long frames. The frame count bit (FCB)
  is kept per address and toggled after each successful exchange; a request that brings
  no answer or a bad frame is repeated with the *same* FCB (up to ``retries`` times), so a
  slave whose answer was lost repeats it instead of moving on. While the last record block
  ends with DIF 0x1F ("more records follow") the next telegram is requested with the
  toggled FCB, and every telegram is returned in order.
- ``select(pattern)``: secondary selection (SND_UD, CI 0x52, address 253); E5 = one slave,
  a garbled answer = a collision, nothing = none.
- ``scan_primary()`` / ``scan_secondary()``: the primary sweep and the wildcard tree scan
  (:class:`~protocols.mbus.secondary.SecondaryScan`), with every probe counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final, TypeVar

from bus.transport import BAUD_RATES, BusError, BusTransport, Reply
from protocols.errors import DecodeError
from protocols.mbus.frames import (
    ADDRESS_MAX_PRIMARY,
    ADDRESS_NETWORK,
    LongFrame,
    SingleCharacter,
    req_ud2,
    select_secondary,
    set_baud_rate,
    snd_nke,
)
from protocols.mbus.secondary import (
    ANY,
    Outcome,
    SecondaryAddress,
    SecondaryScan,
    build_secondary,
    parse_secondary,
)
from protocols.records import more_records_follow, parse_records
from protocols.wmbus.address import manufacturer_code

CI_RSP_UD_LONG: Final = 0x72  # variable data, 12-byte header
CI_RSP_UD_LONG_MSB: Final = 0x76  # the same, multi-byte values most significant byte first
HEADER_LENGTH: Final = 12
DEFAULT_RETRIES: Final = 2
MAX_TELEGRAMS: Final = 16  # a slave that always says "more follows" is cut off here

T = TypeVar("T")


class MasterError(Exception):
    """A request failed."""


class ScanAbortedError(MasterError):
    """The scan was told to stop (:attr:`MbusMaster.abort_scan`)."""


class NoAnswerError(MasterError):
    """The slave did not answer (or only with bad frames) after every retry."""


@dataclass(frozen=True, slots=True)
class SlaveInfo:
    """A slave found by a scan: its address and the identity of its variable-data header."""

    id: str
    manufacturer: str
    version: int
    medium: int
    primary: int | None = None  # the primary address it answered at (primary scan)
    secondary: str | None = None  # the 16 hex digits of its secondary address

    def as_json(self) -> dict[str, object]:
        """The object ``concentratord mbus scan`` prints."""
        out: dict[str, object] = {}
        if self.primary is not None:
            out["primary"] = self.primary
        if self.secondary is not None:
            out["secondary"] = self.secondary
        out.update(
            id=self.id, manufacturer=self.manufacturer, version=self.version, medium=self.medium
        )
        return out


@dataclass(frozen=True, slots=True)
class SecondaryScanResult:
    """What a secondary scan found, and what it cost."""

    found: list[SlaveInfo]
    probes: int  # every probe, the second walks included
    collisions: int
    unresolved: list[SecondaryAddress]
    unexplained: list[SecondaryAddress]  # still unexplained after their second walk
    rescanned: list[SecondaryAddress] = field(default_factory=list)  # walked twice
    rescan_probes: int = 0  # of ``probes``, those of the second walks


def header_address(frame: LongFrame) -> SecondaryAddress:
    """The secondary address in a RSP_UD's 12-byte header (raises DecodeError)."""
    if frame.CI not in (CI_RSP_UD_LONG, CI_RSP_UD_LONG_MSB) or len(frame.data) < HEADER_LENGTH:
        raise MasterError(f"no variable-data header (CI {frame.CI:02X}, {len(frame.data)} bytes)")
    return parse_secondary(frame.data[:8])


def slave_info(frame: LongFrame, primary: int | None = None) -> SlaveInfo:
    """The identity a RSP_UD long frame carries."""
    address = header_address(frame)
    return SlaveInfo(
        id=address.id,
        manufacturer=manufacturer_code(address.manufacturer),
        version=address.version,
        medium=address.medium,
        primary=primary,
        secondary=None if primary is not None else build_secondary(address).hex().upper(),
    )


def _more_follow(frame: LongFrame) -> bool:
    if frame.CI not in (CI_RSP_UD_LONG, CI_RSP_UD_LONG_MSB):
        return False
    try:
        return more_records_follow(parse_records(frame.data[HEADER_LENGTH:]))
    except DecodeError:
        return False


class MbusMaster:
    """Requests over one transport; not thread-safe (one exchange at a time)."""

    def __init__(
        self,
        transport: BusTransport,
        *,
        retries: int = DEFAULT_RETRIES,
        probe_retries: int = 0,
    ) -> None:
        self.transport = transport
        self.retries = retries
        self.probe_retries = probe_retries  # scans: a silent address is the common case
        self._fcb: dict[int, bool] = {}
        # Set from another thread to end a scan early (ScanAbortedError at the next probe).
        self.abort_scan = threading.Event()
        self.probes = 0  # requests sent by scans and selections
        self.requests = 0  # every request sent, retries included
        self.retried = 0

    # -- link ---------------------------------------------------------------------------

    def _exchange(self, request: bytes) -> Reply:
        self.requests += 1
        return self.transport.exchange(request)

    def fcb(self, address: int) -> bool:
        """The FCB the next REQ_UD2 to ``address`` carries."""
        return self._fcb.get(address, True)

    def send_nke(self, address: int, retries: int | None = None) -> bool:
        """SND_NKE (link reset): True when the slave acknowledged with a clean E5. The
        slave's FCB expectation is reset, so is the master's."""
        for attempt in range((self.retries if retries is None else retries) + 1):
            if attempt:
                self.retried += 1
            reply = self._exchange(snd_nke(address))
            if reply.clean and isinstance(reply.frames[0], SingleCharacter):
                self._fcb[address] = True
                return True
        return False

    def request_ud2(self, address: int, retries: int | None = None) -> LongFrame:
        """One REQ_UD2 exchange (retried with the same FCB); the FCB toggles on success."""
        fcb = self.fcb(address)
        tries = (self.retries if retries is None else retries) + 1
        last = "no answer"
        for attempt in range(tries):
            if attempt:
                self.retried += 1
            reply = self._exchange(req_ud2(address, fcb))
            if reply.clean and isinstance(reply.frames[0], LongFrame):
                frame = reply.frames[0]
                if frame.data:
                    self._fcb[address] = not fcb
                    return frame
                last = "a control frame instead of data"
            else:
                last = "no answer" if reply.silent else "a bad or garbled answer"
        raise NoAnswerError(f"address {address}: {last} after {tries} request(s)")

    def read(self, address: int) -> list[LongFrame]:
        """Every telegram of the slave's answer (multi-telegram answers followed through
        DIF 0x1F). Raises NoAnswerError."""
        frames = [self.request_ud2(address)]
        while _more_follow(frames[-1]) and len(frames) < MAX_TELEGRAMS:
            frames.append(self.request_ud2(address))
        return frames

    def read_at(self, address: int | SecondaryAddress) -> list[LongFrame]:
        """:meth:`read` at a primary address, or :meth:`read_secondary` for a secondary one."""
        if isinstance(address, int):
            return self.read(address)
        return self.read_secondary(address)

    def read_secondary(self, address: SecondaryAddress) -> list[LongFrame]:
        """Select the slave by its full secondary address, then :meth:`read` it at address
        253. The answer must come from that slave (its header): a wrong slave, a collision
        or no acknowledgement raise NoAnswerError."""
        if address.is_pattern:
            raise ValueError("a poll selects one slave: no wildcards in its address")
        tries = self.retries + 1
        outcome = Outcome.NONE
        for attempt in range(tries):
            if attempt:
                self.retried += 1
            outcome = self.select(address, retries=0)
            if outcome is Outcome.ONE:
                break
        if outcome is not Outcome.ONE:
            what = "no acknowledgement" if outcome is Outcome.NONE else "a collision"
            raise NoAnswerError(f"selecting {build_secondary(address).hex().upper()}: {what}")
        frames = self.read(ADDRESS_NETWORK)
        try:
            answered = header_address(frames[0])
        except (DecodeError, MasterError):
            raise NoAnswerError("the selected slave's answer has no readable header") from None
        if answered != address:
            raise NoAnswerError(
                f"selected {build_secondary(address).hex().upper()}, "
                f"{build_secondary(answered).hex().upper()} answered"
            )
        return frames

    def switch_baud(self, address: int, baud: int) -> bool:
        """Tell the slave at ``address`` to talk at ``baud`` (SND_UD, CI 0xB8-0xBF, EN
        13757-2): it acknowledges at the current rate and switches; the port follows. False
        (the rate unchanged) when no clean E5 came. ValueError for a rate the port lacks."""
        if baud not in BAUD_RATES:
            raise ValueError(f"the port runs at {BAUD_RATES} baud, not {baud}")
        reply = self._exchange(set_baud_rate(address, baud))
        if not (reply.clean and isinstance(reply.frames[0], SingleCharacter)):
            return False
        self.transport.set_baudrate(baud)
        return True

    # -- secondary addressing -----------------------------------------------------------

    def select(self, pattern: SecondaryAddress, retries: int | None = None) -> Outcome:
        """Select with a secondary address or pattern: ONE on a clean E5, COLLISION on a
        garbled answer (several slaves at once), NONE on silence."""
        tries = (self.probe_retries if retries is None else retries) + 1
        outcome = Outcome.NONE
        for attempt in range(tries):
            if attempt:
                self.retried += 1
            self.probes += 1
            reply = self._exchange(select_secondary(build_secondary(pattern)))
            if reply.clean and isinstance(reply.frames[0], SingleCharacter):
                self._fcb[ADDRESS_NETWORK] = True  # a new selection: a new link
                return Outcome.ONE
            if not reply.silent:
                return Outcome.COLLISION
        return outcome

    def probe_secondary(
        self, pattern: SecondaryAddress
    ) -> tuple[Outcome, SecondaryAddress | None, LongFrame | None]:
        """Select with ``pattern``; after a clean E5, REQ_UD2 to address 253 tells one
        slave (its header's address) from several whose E5s overlapped cleanly (a garbled
        data answer)."""
        outcome = self.select(pattern)
        if outcome is not Outcome.ONE:
            return outcome, None, None
        self.probes += 1
        reply = self._exchange(req_ud2(ADDRESS_NETWORK, self.fcb(ADDRESS_NETWORK)))
        if reply.silent:
            return Outcome.COLLISION, None, None  # acknowledged, then nothing: not trusted
        if not (reply.clean and isinstance(reply.frames[0], LongFrame)):
            return Outcome.COLLISION, None, None
        frame = reply.frames[0]
        self._fcb[ADDRESS_NETWORK] = not self.fcb(ADDRESS_NETWORK)
        try:
            return Outcome.ONE, header_address(frame), frame
        except (DecodeError, MasterError):
            return Outcome.COLLISION, None, None

    # -- scans --------------------------------------------------------------------------

    def _check_abort(self) -> None:
        if self.abort_scan.is_set():
            self.abort_scan.clear()
            raise ScanAbortedError("scan stopped before it ended")

    def scan_primary(
        self, addresses: Iterable[int] = range(0, ADDRESS_MAX_PRIMARY + 1)
    ) -> list[SlaveInfo]:
        """SND_NKE to each address; every one that acknowledges is read once (REQ_UD2) for
        its identity. A slave that acknowledges but sends no readable header is skipped."""
        found: list[SlaveInfo] = []
        for address in addresses:
            self._check_abort()
            if not 0 <= address <= ADDRESS_MAX_PRIMARY:
                raise ValueError(f"primary addresses are 0-{ADDRESS_MAX_PRIMARY}, not {address}")
            self.probes += 1
            if not self.send_nke(address, retries=self.probe_retries):
                continue
            self.probes += 1
            try:
                frame = self.request_ud2(address)
                found.append(slave_info(frame, primary=address))
            except (MasterError, DecodeError):
                continue
        return found

    def scan_secondary(
        self,
        start: SecondaryAddress = ANY,
        manufacturers: Iterable[int] | None = None,
        on_found: Callable[[SlaveInfo], None] | None = None,
    ) -> SecondaryScanResult:
        """The wildcard tree scan; ``manufacturers`` narrows the manufacturer level (the
        default tries every three-letter code for a colliding id: complete, but slow).

        A collision that fewer than two of its children answered (``unexplained``: an
        answer garbled by noise, or come too late) would leave its slaves unfound: its
        subtree is walked once more, and only what is still unexplained then is reported.
        """
        # Deselect whatever a previous selection left selected.
        with contextlib.suppress(BusError):
            self.transport.send(snd_nke(ADDRESS_NETWORK))
        found: list[SlaveInfo] = []
        seen: set[SecondaryAddress] = set()

        def walk(scan: SecondaryScan) -> SecondaryScan:
            while (pattern := scan.next_pattern()) is not None:
                self._check_abort()
                outcome, address, frame = self.probe_secondary(pattern)
                scan.report(outcome, address)
                if outcome is Outcome.ONE and address is not None and frame is not None:
                    if address in seen or address not in scan.found:
                        continue
                    seen.add(address)
                    info = slave_info(frame)
                    found.append(info)
                    if on_found is not None:
                        on_found(info)
            return scan

        first = walk(SecondaryScan(start, manufacturers))
        again = [walk(SecondaryScan(p, manufacturers)) for p in first.unexplained]
        return SecondaryScanResult(
            found=found,
            probes=first.probes + sum(s.probes for s in again),
            collisions=first.collisions + sum(s.collisions for s in again),
            unresolved=[*first.unresolved, *(p for s in again for p in s.unresolved)],
            unexplained=[p for s in again for p in s.unexplained],
            rescanned=list(first.unexplained),
            rescan_probes=sum(s.probes for s in again),
        )


class AsyncMaster:
    """An :class:`MbusMaster` for asyncio: each request runs in a worker thread, one at a
    time (the bus is half-duplex)."""

    def __init__(self, master: MbusMaster) -> None:
        self.master = master
        self._lock = asyncio.Lock()

    async def _run(self, call: Callable[[], T], on_cancel: Callable[[], None] | None = None) -> T:
        async with self._lock:
            work = asyncio.ensure_future(asyncio.to_thread(call))
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                # A thread cannot be cancelled: the bus stays taken until it is done (no
                # other exchange may start meanwhile); ``on_cancel`` may hurry it up.
                if on_cancel is not None:
                    on_cancel()
                with contextlib.suppress(Exception):
                    await work
                raise

    async def send_nke(self, address: int) -> bool:
        """:meth:`MbusMaster.send_nke` in a thread."""
        return await self._run(lambda: self.master.send_nke(address))

    async def read(self, address: int) -> list[LongFrame]:
        """:meth:`MbusMaster.read` in a thread."""
        return await self._run(lambda: self.master.read(address))

    async def read_secondary(self, address: SecondaryAddress) -> list[LongFrame]:
        """:meth:`MbusMaster.read_secondary` in a thread."""
        return await self._run(lambda: self.master.read_secondary(address))

    async def call(self, work: Callable[[MbusMaster], T]) -> T:
        """Any work on the master, in a thread, between polls."""
        return await self._run(lambda: work(self.master))

    async def scan(self, work: Callable[[MbusMaster], T]) -> T:
        """A scan in a thread; cancelled, it stops at its next probe."""
        self.master.abort_scan.clear()
        return await self._run(lambda: work(self.master), self.master.abort_scan.set)

    async def select(self, pattern: SecondaryAddress) -> Outcome:
        """:meth:`MbusMaster.select` in a thread."""
        return await self._run(lambda: self.master.select(pattern))
