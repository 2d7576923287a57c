"""Server-sent events of the placement view: heard telegrams and meters per signal band.

One stream is one :class:`~concentratord.tap.TapSubscription` (narrowed to the caller's
tenant) written as ``text/event-stream``: a ``telegram`` event per heard telegram and a
``bands`` event at once and then every :data:`BANDS_EVERY` seconds. The loop ends when
the client goes away (the next write fails, at most :data:`BANDS_EVERY` seconds later) or
the server stops (``stopping`` is set); the subscription is closed either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson
from aiohttp import web

from concentratord.tap import TapEvent, TapSubscription

BANDS_EVERY = 2.0  # seconds between bands events: an antenna move shows within seconds
# Signal bands by the meter's last RSSI: (name, lowest dBm included); below the last: weak.
BAND_FLOORS: tuple[tuple[str, float], ...] = (
    ("excellent", -70.0),
    ("good", -85.0),
    ("fair", -95.0),
)
BAND_NAMES: tuple[str, ...] = ("excellent", "good", "fair", "weak")
# What a telegram event shows to role user: where and how well, never decoded values.
USER_FIELDS: tuple[str, ...] = (
    "time",
    "id",
    "manufacturer",
    "tenant",
    "rssi_dbm",
    "link_mode",
    "decode",
)
RETRY_MS = 3000  # how long EventSource waits before reconnecting after a lost stream


def band_of(rssi_dbm: float | None) -> str | None:
    """The band of one RSSI value, or None when there is none."""
    if rssi_dbm is None:
        return None
    for name, floor in BAND_FLOORS:
        if rssi_dbm >= floor:
            return name
    return "weak"


def band_counts(levels: Iterable[float | None]) -> dict[str, int]:
    """Meters per band by their last RSSI, plus ``unknown`` for those without one."""
    counts = dict.fromkeys((*BAND_NAMES, "unknown"), 0)
    for rssi in levels:
        counts[band_of(rssi) or "unknown"] += 1
    return counts


def sse(event: str, data: Mapping[str, Any]) -> bytes:
    """One server-sent event; orjson never emits a raw newline, so one data line suffices."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def telegram(event: TapEvent, full: bool) -> dict[str, Any]:
    """The ``telegram`` event for a tap event: everything when ``full``, else USER_FIELDS."""
    if full:
        return dict(event)
    return {key: event.get(key) for key in USER_FIELDS}


async def stream(
    response: web.StreamResponse,
    subscription: TapSubscription,
    bands: Callable[[], dict[str, Any]],
    stopping: asyncio.Event,
    *,
    full: bool,
) -> None:
    """Write events to a prepared ``response`` until the client leaves or ``stopping``."""
    loop = asyncio.get_running_loop()
    stop = asyncio.ensure_future(stopping.wait())
    get: asyncio.Future[TapEvent] | None = None
    next_bands = loop.time()
    try:
        await response.write(f"retry: {RETRY_MS}\n\n".encode())
        while not stopping.is_set():
            if loop.time() >= next_bands:
                await response.write(sse("bands", bands()))
                next_bands = loop.time() + BANDS_EVERY
            if get is None:
                get = asyncio.ensure_future(subscription.queue.get())
            timeout = max(0.0, next_bands - loop.time())
            waiting: set[asyncio.Future[Any]] = {get, stop}
            done, _ = await asyncio.wait(
                waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if get in done:
                events = [get.result()]
                get = None
                # Whatever else is queued goes out in the same write.
                while not subscription.queue.empty():
                    events.append(subscription.queue.get_nowait())
                await response.write(b"".join(sse("telegram", telegram(e, full)) for e in events))
    except ConnectionError:
        pass  # the client went away: nothing to tell it
    finally:
        for future in (stop, get):
            if future is not None:
                future.cancel()
        subscription.close()
