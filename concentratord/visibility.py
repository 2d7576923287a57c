"""The radio field as installers and head-ends see it: one row per meter heard, scoped by
tenant, silent meters, and the statistics kept across restarts (docs/visibility.md).

One answer, three ways: ``concentratorctl visible``, the MQTT ``visibility`` command and the
web API all take their rows from :meth:`Visibility.rows` / :meth:`Visibility.row`. A tenant
sees its own meters and only a count of the others; no tenant (the gateway's operator)
sees every meter heard, its neighbours' included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import cbor2
import zstandard

from concentratord.documents import utc
from concentratord.pipeline import Heard, MeterState, Outcome
from concentratord.reception import Reception, quality_of
from concentratord.tap import TapEvent
from radio.frame import RadioFrame
from uplink.messages import iso_utc

# The statistics blob: version 1 = zstd(CBOR [[key, device_type, Reception.dump()], ...]).
BLOB_VERSION = 1
# A blob larger than this is refused at load (30,000 meters take about 2 MB before zstd).
MAX_BLOB_BYTES = 64 * 1024 * 1024


class AmbiguousMeterError(LookupError):
    """An id heard from more than one manufacturer: name it ``MAN:ID``."""

    def __init__(self, serial: str, manufacturers: list[str]) -> None:
        self.serial = serial
        self.manufacturers = manufacturers
        super().__init__(
            f"meter {serial} is heard from {len(manufacturers)} manufacturers"
            f" ({', '.join(manufacturers)}): name one as MAN:{serial.upper()}"
        )


def row_of(state: MeterState, now: float, good_rate: float) -> dict[str, Any]:
    """One meter's row: the contract of docs/visibility.md (and the web API)."""
    r = state.reception
    rate = r.reception_rate(now)
    mean = r.rssi_mean
    return {
        "id": state.meter_id,
        "manufacturer": state.manufacturer,
        "media": state.media,
        "tenant": state.tenant,
        "telegrams": r.telegrams,
        "first_heard": iso_utc(utc(r.first_heard)),
        "last_heard": iso_utc(utc(r.last_heard)),
        "rssi_dbm": {
            "last": r.rssi_last,
            "min": r.rssi_min,
            "mean": None if mean is None else round(mean, 1),
            "max": r.rssi_max,
        },
        "link_mode": r.link_mode,
        "decode": r.decode,
        "interval_s": None if r.interval_s is None else round(r.interval_s, 1),
        "reception_rate": None if rate is None else round(rate, 3),
        "quality": quality_of(rate, good_rate),
    }


class Visibility:
    """Rows of the meters heard (``meters``: the pipeline's, live, read only here)."""

    def __init__(
        self,
        meters: Mapping[str, MeterState],
        *,
        clock: Callable[[], float],
        good_rate: float,
        silent_after: int,
        listened: Callable[[float, float], float] | None = None,
    ) -> None:
        """``listened(since, until)``: the seconds the radio listened in that span (a
        battery bridge sleeps between windows, and a meter is not silent while nobody
        listens); None: always."""
        self.meters = meters
        self.clock = clock
        self.good_rate = good_rate
        self.silent_after = silent_after
        self.listened = listened

    def _scoped(self, tenant: str | None) -> Iterable[MeterState]:
        if tenant is None:
            return self.meters.values()
        return (s for s in self.meters.values() if s.tenant == tenant)

    def rows(self, tenant: str | None, meters: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The rows of ``tenant``'s meters (every meter when None), strongest signal first;
        ``meters`` (ids or ``MAN:ID``) narrows them."""
        now = self.clock()
        states = list(self._scoped(tenant))
        if meters is not None:
            wanted = {m.upper() for m in meters}
            states = [s for s in states if s.key in wanted or s.meter_id in wanted]
        states.sort(key=lambda s: (-(s.reception.rssi_last or -999.0), s.key))
        return [row_of(s, now, self.good_rate) for s in states]

    def row(self, serial: str, tenant: str | None) -> dict[str, Any] | None:
        """The row of the meter ``serial`` (``ID`` or ``MAN:ID``) if ``tenant`` may see it
        and it was heard; :class:`AmbiguousMeterError` for an id of several manufacturers."""
        wanted = serial.upper()
        if ":" in wanted:
            state = self.meters.get(wanted)
            found = [state] if state is not None else []
        else:
            found = [s for s in self.meters.values() if s.meter_id == wanted]
        found = [s for s in found if tenant is None or s.tenant == tenant]
        if not found:
            return None
        if len(found) > 1:
            raise AmbiguousMeterError(serial, sorted(s.manufacturer for s in found))
        return row_of(found[0], self.clock(), self.good_rate)

    def signal(self, tenant: str | None) -> list[float | None]:
        """The last RSSI of each meter ``tenant`` may see (the placement view's bands)."""
        return [s.reception.rssi_last for s in self._scoped(tenant)]

    def others(self, tenant: str | None) -> int:
        """How many meters heard are not ``tenant``'s (0 for the operator, who sees all)."""
        if tenant is None:
            return 0
        return sum(1 for s in self.meters.values() if s.tenant != tenant)

    def summary(self, tenant: str) -> dict[str, int]:
        """The reception summary of ``tenant`` for the stats document."""
        now = self.clock()
        out = {"meters": 0, "good": 0, "poor": 0, "unknown": 0, "silent": 0}
        for state in self._scoped(tenant):
            out["meters"] += 1
            out[state.reception.quality(now, self.good_rate)] += 1
            out["silent"] += state.reception.silent
        return out

    def newly_silent(self) -> list[MeterState]:
        """Tenant meters that have just missed ``silent_after`` expected telegrams: marked
        silent (their METER_SILENT is to be raised)."""
        now = self.clock()
        found = []
        for state in self.meters.values():
            r = state.reception
            if state.tenant is None or r.silent:
                continue
            heard = r.last_heard
            # Judged on the time listened since the meter was last heard, not the time passed.
            at = now if self.listened is None else heard + self.listened(heard, now)
            if r.is_silent(at, self.silent_after):
                r.silent = True
                found.append(state)
        return found


def is_back(state: MeterState) -> bool:
    """Whether a meter marked silent was just heard again: unmarked (its METER_SILENT is to
    be cleared). Called by the frame loop after each telegram of the meter."""
    if state.reception.silent:
        state.reception.silent = False
        return True
    return False


def tap_event(frame: RadioFrame | Heard, outcome: Outcome) -> TapEvent:
    """What the live tap shows of one frame (or wired answer, as :class:`Heard`) the
    pipeline judged (concentratord/tap.py)."""
    meter = outcome.meter
    if outcome.repeat:
        decode = "repeat"
    elif outcome.reading is not None:
        decode = "ok"
    elif meter is not None:
        decode = meter.reception.decode
    else:
        decode = "error"
    return {
        "time": iso_utc(utc(frame.timestamp)),
        "id": meter.meter_id if meter is not None else None,
        "manufacturer": meter.manufacturer if meter is not None else None,
        "tenant": meter.tenant if meter is not None else None,
        "rssi_dbm": frame.rssi_dbm,
        "link_mode": frame.link_mode if isinstance(frame, Heard) else frame.link_mode.value,
        "decode": decode,
        "fields": outcome.reading.fields if outcome.reading is not None else None,
        "error": outcome.error,
    }


def dump_statistics(meters: Iterable[MeterState]) -> bytes:
    """Every meter's reception statistics as one compressed blob for the store."""
    body = [[s.key, s.device_type, s.reception.dump()] for s in meters]
    return bytes([BLOB_VERSION]) + zstandard.ZstdCompressor(level=3).compress(cbor2.dumps(body))


def load_statistics(blob: bytes, window_s: float) -> list[tuple[str, int, Reception]]:
    """What :func:`dump_statistics` wrote: (``MAN:ID``, device type, statistics) per meter.

    ``ValueError`` (with the reason) when the blob is not such: the caller starts afresh.
    """
    if not blob or blob[0] != BLOB_VERSION:
        raise ValueError("reception statistics of an unknown version")
    try:
        raw = zstandard.ZstdDecompressor().decompress(blob[1:], max_output_size=MAX_BLOB_BYTES)
        body = cbor2.loads(raw)
    except (zstandard.ZstdError, cbor2.CBORDecodeError) as err:
        raise ValueError(f"reception statistics unreadable: {err}") from None
    if not isinstance(body, list):
        raise ValueError("reception statistics are not a list")
    out = []
    for entry in body:
        if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)):
            raise ValueError("reception statistics entry malformed")
        key, device_type, data = entry
        if ":" not in key or not isinstance(device_type, int) or not isinstance(data, list):
            raise ValueError(f"reception statistics entry {key!r} malformed")
        out.append((key, device_type, Reception.load(window_s, data)))
    return out
