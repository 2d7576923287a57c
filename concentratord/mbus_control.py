"""``concentratorctl mbus scan|read``: the wired master of the running daemon, both ends.

The daemon owns the ports of its ``[[mbus]]`` buses, so a technician scans or reads a
slave through it (``concentratord mbus`` would fight the poll loop for the port). The
daemon's side (:func:`mbus_command`) is a control stream, since a scan at 2400 baud takes
minutes: ``{"slave": {...}}`` per slave found as it is found, then ``{"summary": {...}}``;
``read`` sends one ``{"reading": {...}}``; a failure after the start is a last
``{"error": "..."}``. The work runs between two polls and polls wait for it; a client that
hangs up stops a scan at its next probe.

Only the standard library is imported at module level: ``concentratorctl`` imports this
module and must start without asyncio and the daemon's modules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bus.master import SlaveInfo
    from concentratord.control import ControlStream
    from concentratord.wired_bus import WiredBus
    from protocols.mbus.frames import LongFrame

# A wired slave's frames (and "every record") -> the decoded object ``decode`` prints.
DecodeWired = Callable[[Sequence["LongFrame"], bool], dict[str, Any]]


def summary_line(summary: Mapping[str, Any]) -> str:
    """The scan's summary for stderr, as ``concentratord mbus scan`` prints it."""
    line = (
        f"mbus scan ({summary['kind']}): {summary['found']} slave(s) found, "
        f"{summary['probes']} probes"
    )
    if "collisions" in summary:
        line += f", {summary['collisions']} collisions"
    if summary.get("unresolved"):
        line += f", {summary['unresolved']} unresolved"
    return line


def _bus_of(buses: Mapping[str, WiredBus], port: object) -> WiredBus:
    from concentratord.control import ControlError

    if port is None:
        if len(buses) != 1:
            names = ", ".join(buses) or "none"
            raise ControlError(f"name the bus with --port (the daemon has: {names})")
        return next(iter(buses.values()))
    bus = buses.get(str(port))
    if bus is None:
        raise ControlError(f"no [[mbus]] bus on {port} (the daemon has: {', '.join(buses)})")
    return bus


class MbusLines:
    """One scan or read as the lines of a control stream."""

    def __init__(self, run: Callable[[Callable[[dict[str, Any]], None]], Any]) -> None:
        import asyncio

        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._run = run
        self._task: asyncio.Task[None] | None = None

    def close(self) -> None:
        """Stop the work (a scan ends at its next probe)."""
        if self._task is not None:
            self._task.cancel()

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[dict[str, Any]]:
        import asyncio

        loop = asyncio.get_running_loop()
        queue = self._queue

        def send(line: dict[str, Any]) -> None:  # from the master's thread too
            loop.call_soon_threadsafe(queue.put_nowait, line)

        async def work() -> None:
            from bus.master import MasterError
            from bus.transport import BusError

            try:
                await self._run(send)
            except (BusError, MasterError, ValueError) as err:
                send({"error": str(err)})
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)  # the end

        self._task = asyncio.create_task(work())
        while (line := await queue.get()) is not None:
            yield line


def mbus_command(buses: Mapping[str, WiredBus], decode: DecodeWired) -> ControlStream:
    """The ``mbus`` control command: args ``action`` (``scan`` | ``read``), ``port``
    (needed with several buses); scan: ``secondary`` (bool), ``manufacturers`` (``ABB,KAM``),
    ``addresses`` (primary: ``FIRST-LAST``);
    read: ``address`` (0-250 or 16 hex digits), ``records`` (bool)."""
    from concentratord.access import Permission
    from concentratord.control import ControlError, ControlStream
    from concentratord.mbus_cmd import parse_addresses, parse_manufacturers

    async def open_mbus(args: dict[str, Any]) -> MbusLines:
        bus = _bus_of(buses, args.get("port"))
        action = args.get("action")
        if action == "scan":
            secondary = bool(args.get("secondary"))
            try:
                wanted = parse_manufacturers(args.get("manufacturers"))
                addresses = parse_addresses(str(args.get("addresses") or "0-250"))
            except ValueError as err:
                raise ControlError(str(err)) from None

            async def scan(send: Callable[[dict[str, Any]], None]) -> None:
                def found(info: SlaveInfo) -> None:
                    send({"slave": info.as_json()})

                summary = await bus.scan(secondary, found, wanted, addresses)
                kind = "secondary" if secondary else "primary"
                send({"summary": {"port": bus.port, "kind": kind, **summary}})

            return MbusLines(scan)
        if action == "read":
            address = _address(args.get("address"))

            async def read(send: Callable[[dict[str, Any]], None]) -> None:
                frames = await bus.read(address)
                send({"reading": decode(frames, bool(args.get("records")))})

            return MbusLines(read)
        raise ControlError("mbus needs scan or read")

    return ControlStream(Permission.DEVICES, open_mbus)


def _address(value: object) -> int | str:
    from concentratord.config.mbus import PRIMARY_MAX, parse_meter_address
    from concentratord.control import ControlError

    try:
        return parse_meter_address(str(value if value is not None else ""))
    except ValueError as err:
        raise ControlError(f"address: 0-{PRIMARY_MAX} or 16 hex digits ({err})") from None
