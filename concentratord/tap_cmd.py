"""``concentratorctl tap``: the live tap over the control socket, both ends.

The daemon's side (:func:`tap_command`) turns a :class:`~concentratord.tap.TapSubscription`
into the lines of a control stream: ``{"event": EVENT}`` per telegram heard and
``{"dropped": N}`` (the running total) before the first event after a loss, so a watcher
that fell behind knows there is a gap. The client's side is the meter filter
(:func:`parse_meter`) and the human line (:func:`event_line`).

Only the standard library is imported at module level: ``concentratorctl`` imports this
module and must start without asyncio and the daemon's modules.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concentratord.control import ControlStream
    from concentratord.tap import Tap, TapEvent, TapSubscription


_METER = re.compile(r"(?:[A-Za-z]{3}:)?[0-9A-Fa-f]{8}")
# Fields already in their own column (or the error, shown once at the end), or too long.
_NOT_SUMMARISED = frozenset(
    {"id", "manufacturer", "media", "meter", "rssi_dbm", "link_mode", "timestamp", "hex"}
    | {"error", "error_type"}
)


def parse_meter(text: str) -> str:
    """A meter filter, ``ID`` or ``MAN:ID``, upper-cased; ValueError with the expected form."""
    meter = text.strip()
    if not _METER.fullmatch(meter):
        raise ValueError(f"meter {text!r}: expected ID (8 hex digits) or MAN:ID (MAN 3 letters)")
    return meter.upper()


class TapLines:
    """One subscription as the lines of a control stream; closing it unsubscribes."""

    def __init__(self, subscription: TapSubscription) -> None:
        self.subscription = subscription

    def close(self) -> None:
        """Stop watching (the tap forgets this watcher)."""
        self.subscription.close()

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[dict[str, Any]]:
        reported = 0
        async for event in self.subscription:
            # Drops happen only while the queue is full, so an event follows soon after
            # each loss: reporting here puts the count right where the gap is.
            if self.subscription.dropped > reported:
                reported = self.subscription.dropped
                yield {"dropped": reported}
            yield {"event": event}


def tap_command(tap: Tap) -> ControlStream:
    """The ``tap`` control command on ``tap``: args ``{"meter": ID or MAN:ID}`` (optional)."""
    from concentratord.access import Permission
    from concentratord.control import ControlError, ControlStream
    from concentratord.tap import TapBusyError

    async def open_tap(args: dict[str, Any]) -> TapLines:
        meter = args.get("meter")
        try:
            wanted = parse_meter(str(meter)) if meter else None
        except ValueError as err:
            raise ControlError(str(err)) from None
        try:
            # The control socket has no tenants: the caller sees every tenant's meters.
            return TapLines(tap.subscribe(meter=wanted))
        except TapBusyError as err:
            raise ControlError(f"tap is busy: {err}") from None

    return ControlStream(Permission.READINGS, open_tap)


def event_line(event: TapEvent) -> str:
    """One human line: time, MAN:ID, tenant, RSSI, link mode, outcome, fields or error."""
    moment = str(event.get("time") or "?")
    rssi = event.get("rssi_dbm")
    cells = (
        moment[11:23] if len(moment) >= 19 and moment[10] == "T" else moment,  # the time of day
        f"{event.get('manufacturer') or '?'}:{event.get('id') or '?'}".ljust(12),
        str(event.get("tenant") or "-").ljust(8),
        (f"{rssi:.1f} dBm" if isinstance(rssi, int | float) else "- dBm").rjust(10),
        str(event.get("link_mode") or "-").ljust(2),
        str(event.get("decode") or "?").ljust(9),
        _summary(event),
    )
    return "  ".join(cells).rstrip()


def _summary(event: TapEvent) -> str:
    fields = event.get("fields")
    parts = []
    if isinstance(fields, dict):
        for key, value in fields.items():
            if key in _NOT_SUMMARISED or isinstance(value, dict | list) or value is None:
                continue
            text = str(value)
            # A value with a space (``status=BURST LEAK``) is quoted so the line still splits.
            parts.append(f"{key}={json.dumps(text) if ' ' in text else text}")
    if event.get("error"):
        parts.append(f"error: {event['error']}")
    return " ".join(parts)
