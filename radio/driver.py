"""What every module driver shares: the framer contract, requests with time-outs, the frame
queue, counters and the reconnecting supervisor.

Layering as in zigpy-znp and pymodbus: :mod:`radio.transport` moves bytes, a pure
:class:`Framer` per module family turns bytes into :class:`TelegramEvent` and
:class:`ReplyEvent`, and :class:`ModuleDriver` matches replies to requests (the listener is
registered before the request is written) and queues telegrams as
:class:`~radio.frame.RadioFrame`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from protocols.backoff import Backoff
from protocols.wmbus.link import FrameFormat
from radio.frame import LinkMode, RadioFrame
from radio.transport import PortLostError, SerialPort, supervise

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TelegramEvent:
    """A telegram the framer found in the byte stream."""

    raw: bytes
    rssi_dbm: float | None = None
    link_mode: LinkMode | None = None  # when the module says which mode it came in
    frame_format: FrameFormat = FrameFormat.NONE
    # False: the module strips the link-layer CRCs; None: it cannot say (auto-detected).
    crc_present: bool | None = False


@dataclass(frozen=True, slots=True)
class ReplyEvent:
    """A module's answer to a command; ``key`` identifies which command it answers."""

    key: object
    payload: bytes = b""


Event = TelegramEvent | ReplyEvent


class Framer(Protocol):
    """Pure: bytes in, events out. Keeps partial frames between calls; resynchronises on
    garbage and counts what it skipped."""

    bad_frames: int
    resyncs: int

    def feed(self, data: bytes) -> list[Event]:
        """Consume ``data``; return every complete event it finished."""
        ...

    def reset(self) -> None:
        """Forget any partial frame (after a reconnect)."""
        ...

    def expire(self) -> list[Event]:
        """The line went quiet with a partial frame pending: it was not a frame. Skip its
        first byte, count a resync, and return what the rest of the buffer holds."""
        ...

    @property
    def pending(self) -> int:
        """Bytes held for a frame not yet complete."""
        ...


@dataclass
class Counters:
    """What a driver has seen since it started."""

    frames: int = 0
    bad_frames: int = 0
    resyncs: int = 0
    reconnects: int = 0
    dropped: int = 0  # frames the consumer did not take in time (queue full)


@dataclass
class ModuleInfo:
    """What the module told us about itself."""

    module: str
    firmware: str | None = None
    module_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


class ModuleError(Exception):
    """The module refused a command or did not answer."""


# What a driver's sleep() does to its module (``ModuleDriver.sleep_method``, ``last_sleep``).
PORT_CLOSED = "port closed"  # the host closes the port; the module keeps power and listens
LOW_POWER_MODE = "low-power mode"  # the module was asked to sleep, and agreed


class ModuleDriver(ABC):
    """A driver for one module family on one port.

    ``await start()`` opens the port and configures the module (returning once the first
    configuration succeeded, or raising after ``start_timeout``); frames then arrive on
    ``frames()`` until ``await stop()``. A lost port is reopened and reconfigured with
    exponential backoff, without losing the frames already queued.

    ``await sleep()`` / ``await wake()`` duty-cycle the radio (decision 0009): sleep puts
    the module in its low-power mode where the family has one (``enter_low_power()``) and
    closes the port; wake reopens and reconfigures it like ``start()``. ``sleep_method``
    says what sleeping means for the family, ``last_sleep`` what the last sleep achieved.
    Counters and queued frames survive; a sleep/wake is not a reconnect.
    """

    name: ClassVar[str]
    baudrate: ClassVar[int]
    request_timeout: ClassVar[float] = 1.0
    # Quiet time after which a partial frame is taken for garbage (a real frame's bytes
    # follow each other within milliseconds at these baud rates).
    idle_gap: ClassVar[float] = 0.25
    # What sleep() does for this family at best (PORT_CLOSED or LOW_POWER_MODE).
    sleep_method: ClassVar[str] = PORT_CLOSED

    def __init__(
        self,
        port: str,
        mode: LinkMode = LinkMode.C1,
        *,
        clock: Callable[[], float] = time.time,
        queue_size: int = 10_000,
        backoff: Backoff | None = None,
    ) -> None:
        self.port_path = port
        self.mode = mode
        self.clock = clock
        self.counters = Counters()
        self.info = ModuleInfo(self.name)
        self.configured_mode: LinkMode | None = None
        self._queue: asyncio.Queue[RadioFrame] = asyncio.Queue(queue_size)
        self._framer = self.make_framer()
        self._port = SerialPort(port, self.baudrate, self._on_data)
        self._waiters: list[tuple[Callable[[ReplyEvent], bool], asyncio.Future[ReplyEvent]]] = []
        self._backoff = backoff or Backoff()
        self._stopping = asyncio.Event()
        self._configured = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self.asleep = False  # between sleep() and wake(): the port is closed
        self.last_sleep: str | None = None  # PORT_CLOSED or LOW_POWER_MODE, once slept
        # Set when the module agreed to low-power mode, cleared once it was woken: kept
        # across stop()/start() so that whichever open comes next wakes it first.
        self._module_in_low_power = False
        self._power_lock = asyncio.Lock()

    # -- for subclasses -----------------------------------------------------------------

    @abstractmethod
    def make_framer(self) -> Framer:
        """A fresh framer for this module's host protocol."""

    @abstractmethod
    async def configure(self) -> None:
        """Set ``self.mode`` on the module and read it back; fill ``self.info``."""

    async def ping(self) -> bool:
        """Whether the module answers (modules without a ping: the port is open)."""
        return self._port.is_open

    async def enter_low_power(self) -> bool:
        """Ask the module to enter its low-power mode; True when it agreed.

        Called by ``sleep()`` with the port open and the module configured, just before
        the port is closed. The default (a family without one) sends nothing.
        """
        return False

    async def leave_low_power(self) -> None:  # noqa: B027 - optional hook
        """Wake the module from low-power mode; raise TimeoutError when it does not answer.

        Called on the first open after the module agreed to low-power mode, after the
        port is open and before ``configure()``.
        """

    def frame_link_mode(self, event: TelegramEvent) -> LinkMode:
        """The link mode to report for a telegram the module did not label."""
        if event.link_mode is not None:
            return event.link_mode
        return self.configured_mode or self.mode

    # -- requests -----------------------------------------------------------------------

    async def request(
        self, data: bytes, match: Callable[[ReplyEvent], bool], timeout: float | None = None
    ) -> ReplyEvent:
        """Write ``data`` and wait for the first reply ``match`` accepts."""
        future: asyncio.Future[ReplyEvent] = asyncio.get_running_loop().create_future()
        waiter = (match, future)
        self._waiters.append(waiter)  # registered before writing: no reply can slip by
        try:
            self._port.write(data)
            return await asyncio.wait_for(future, timeout or self.request_timeout)
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def write(self, data: bytes) -> None:
        """Write without waiting for an answer."""
        self._port.write(data)

    # -- the byte stream ----------------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        self._handle(self._framer.feed(data))
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self._framer.pending:
            loop = asyncio.get_running_loop()
            self._idle_timer = loop.call_later(self.idle_gap, self._on_idle)

    def _on_idle(self) -> None:
        self._idle_timer = None
        while self._framer.pending:
            before = self._framer.pending
            self._handle(self._framer.expire())
            if self._framer.pending >= before:
                break

    def _handle(self, events: list[Event]) -> None:
        framer = self._framer
        self.counters.bad_frames = framer.bad_frames
        self.counters.resyncs = framer.resyncs
        for event in events:
            if isinstance(event, ReplyEvent):
                self._dispatch_reply(event)
            else:
                self._enqueue(event)

    def _dispatch_reply(self, event: ReplyEvent) -> None:
        for match, future in list(self._waiters):
            if not future.done() and match(event):
                future.set_result(event)
                return
        log.debug("%s: unsolicited reply %r", self.name, event)

    def _enqueue(self, event: TelegramEvent) -> None:
        frame = RadioFrame(
            raw=event.raw,
            rssi_dbm=event.rssi_dbm,
            timestamp=self.clock(),
            link_mode=self.frame_link_mode(event),
            frame_format=event.frame_format,
            crc_present=event.crc_present,
        )
        self.counters.frames += 1
        if self._queue.full():
            # The oldest frame goes: a stalled consumer must not stop the reader.
            self._queue.get_nowait()
            self.counters.dropped += 1
        self._queue.put_nowait(frame)

    # -- life cycle ---------------------------------------------------------------------

    async def _on_open(self) -> None:
        self._framer.reset()
        self._configured.clear()
        if self._module_in_low_power:
            # Only once woken may the flag go: a port lost while waking wakes it again.
            await self.leave_low_power()
            self._module_in_low_power = False
        await self.configure()
        self.configured_mode = self.mode
        self._configured.set()

    def _on_reconnect(self) -> None:
        self.counters.reconnects += 1

    async def start(self, start_timeout: float = 10.0) -> None:
        """Open and configure; raise ModuleError when that fails within ``start_timeout``."""
        self.asleep = False
        self._stopping.clear()
        self._task = asyncio.create_task(
            supervise(self._port, self._on_open, self._backoff, self._on_reconnect, self._stopping)
        )
        try:
            await asyncio.wait_for(self._configured.wait(), start_timeout)
        except TimeoutError:
            await self.stop()
            raise ModuleError(
                f"no {self.name} module answered on {self.port_path} within {start_timeout} s"
            ) from None

    async def stop(self) -> None:
        """Close the port and stop reconnecting (a sleeping driver is then stopped, not
        asleep: ``wake()`` does nothing, ``start()`` starts it)."""
        self.asleep = False
        await self._close()

    async def _close(self) -> None:
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, PortLostError):
                await self._task
            self._task = None
        self._port.close()
        # Not configured any more: a later start() or wake() must wait for configure().
        self._configured.clear()

    async def sleep(self) -> None:
        """Put the radio to sleep until ``wake()``: low-power mode where the module agrees
        (``enter_low_power()``), then the port closed and reconnecting stopped.

        Counters and the frame queue stay (``frames()`` consumers keep waiting); sets
        ``asleep`` and ``last_sleep``. Does nothing when already asleep or not running.
        """
        async with self._power_lock:
            if self.asleep or self._task is None:
                return
            low_power = False
            # Only a configured module on an open port can be asked; one being reconnected
            # just has its port closed.
            if self._configured.is_set() and self._port.is_open:
                try:
                    low_power = await self.enter_low_power()
                except (PortLostError, ModuleError, TimeoutError) as err:
                    log.warning("%s: low-power request failed: %s", self.name, err)
            if low_power:  # never cleared here: a module not yet woken may still sleep
                self._module_in_low_power = True
            self.last_sleep = LOW_POWER_MODE if low_power else PORT_CLOSED
            await self._close()
            self.asleep = True
            log.info("%s on %s asleep (%s)", self.name, self.port_path, self.last_sleep)

    async def wake(self, start_timeout: float = 10.0) -> None:
        """Reopen the port and configure the module again, exactly as ``start()`` does
        (its RAM configuration may not have survived), after ``leave_low_power()`` when it
        slept in low-power mode.

        Raises ModuleError when the module does not answer within ``start_timeout``; the
        driver is then stopped and still asleep, so a later ``wake()`` tries again. Does
        nothing when awake. Not counted as a reconnect.
        """
        async with self._power_lock:
            if not self.asleep:
                return
            try:
                # start(), not its insides: a family's own checks there apply (CUL).
                await self.start(start_timeout)
            except BaseException:
                self.asleep = True  # start() stopped the driver; the next wake() retries
                raise
            self.asleep = False

    def retarget(self, port: str) -> None:
        """Open ``port`` from the next reconnect on (a replugged dongle's new tty name)."""
        self.port_path = port
        self._port.path = port

    async def wait_configured(self, timeout: float) -> None:
        """Wait until the module is (re)configured after a reconnect."""
        await asyncio.wait_for(self._configured.wait(), timeout)

    async def frames(self) -> AsyncIterator[RadioFrame]:
        """Every frame heard, in order, until the driver stops."""
        while True:
            yield await self._queue.get()

    async def next_frame(self, timeout: float | None = None) -> RadioFrame:
        """The next frame heard."""
        return await asyncio.wait_for(self._queue.get(), timeout)

    def pending(self) -> int:
        """Frames heard and not yet taken."""
        return self._queue.qsize()

    def module_info(self) -> ModuleInfo:
        """Type, firmware and id of the module, as far as it told us."""
        return self.info
