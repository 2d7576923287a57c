"""The pipeline: radio frames and wired answers in, readings, alarm events and interval values out.

Pure bookkeeping, no I/O: the daemon feeds it frames and asks it for snapshots; time comes
from the frames' timestamps and the caller. Per-meter state lives here in memory (last
readings, last status, counters, RSSI); what must survive a power cut goes to the store
as alarm events and interval values.
"""

from __future__ import annotations

import bisect
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bus.answer import LINK_MODE as WIRED_LINK_MODE
from bus.answer import WiredAnswer, merged_telegram
from concentratord.meter_limit import MeterLimit
from concentratord.reception import Decode, Reception
from protocols.errors import DecodeError, NoKeyError, WrongKeyError
from protocols.meters.media import media_name
from protocols.meters.registry import BUILTIN, Registry
from protocols.readout import telegram_fields
from protocols.telegram import Telegram
from protocols.wmbus.decoder import TelegramDecoder
from protocols.wmbus.link import peek_address, strip_declared
from radio.frame import RadioFrame

log = logging.getLogger(__name__)

# How many recent readings per meter are kept: enough to find "the latest before the
# interval's end". The interval is taken when the first frame after its end arrives, before
# that frame is processed (concentratord/intervals.py), so the newest reading is the one;
# the second covers a frame stamped out of order. Each reading holds its decoded fields:
# at 30,000 meters every extra reading kept costs about 12 MB.
HISTORY = 2


NO_FLAGS: frozenset[str] = frozenset()  # one object: an empty frozenset is 216 bytes each
_FLAG_SETS: dict[str, frozenset[str]] = {}
_FLAG_SETS_MAX = 4096  # distinct status strings shared; beyond, sets are made afresh


def flag_set(status: str) -> frozenset[str]:
    """The flags of a status string, one shared set per string: meters remember their last
    flags, and 30,000 copies of {"DRY"} cost 6 MB."""
    flags = _FLAG_SETS.get(status)
    if flags is None:
        flags = frozenset(status.split())
        if len(_FLAG_SETS) < _FLAG_SETS_MAX:
            _FLAG_SETS[status] = flags
    return flags


@dataclass(frozen=True, slots=True)
class Reading:
    """One decoded telegram of one meter, as the head-end will see it."""

    meter_id: str
    tenant: str
    timestamp: float
    fields: dict[str, Any]
    rssi_dbm: float | None
    link_mode: str

    @property
    def flags(self) -> frozenset[str]:
        """The status flags set (empty when ``OK`` or unknown)."""
        status = self.fields.get("status")
        if not isinstance(status, str) or status == "OK":
            return NO_FLAGS
        return flag_set(status)


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """Status flags of a meter changed: some appeared, some cleared."""

    meter_id: str
    tenant: str
    timestamp: float
    raised: frozenset[str]
    cleared: frozenset[str]
    status: str
    reading: Reading
    previous: frozenset[str] = frozenset()  # the flags set before (empty: OK)

    @property
    def meter_key(self) -> str:
        """The meter's identity, ``MAN:ID`` (the store keeps its flags under it)."""
        return f"{self.reading.fields.get('manufacturer', '')}:{self.meter_id}"

    @property
    def previous_status(self) -> str:
        """The status before the change: ``OK`` or the flags sorted A-Z."""
        return " ".join(sorted(self.previous)) if self.previous else "OK"


@dataclass(slots=True)
class MeterState:
    """What the gateway knows of one meter: how it is heard (``reception``), its recent
    readings (for snapshots) and the status flags it last reported."""

    meter_id: str
    manufacturer: str
    tenant: str | None
    device_type: int
    reception: Reception
    repeats: int = 0
    decode_errors: int = 0
    last_error: str | None = None
    flags: frozenset[str] | None = None
    over_limit: bool = False  # a tenant's meter beyond limits.max_meters: not collected
    # The newest last, at most HISTORY: a list (a deque costs 600 bytes, 30,000 times).
    readings: list[Reading] = field(default_factory=list)

    @property
    def key(self) -> str:
        """The meter's identity, ``MAN:ID``: ids are unique per manufacturer only."""
        return f"{self.manufacturer}:{self.meter_id}"

    @property
    def media(self) -> str:
        """What the meter measures, from the device type of its link-layer address."""
        return media_name(self.device_type)

    def latest_before(self, end: float) -> Reading | None:
        """The latest reading received before ``end``."""
        for reading in reversed(self.readings):
            if reading.timestamp < end:
                return reading
        return None


@dataclass
class Tenant:
    """One utility sharing the gateway: its meters, keys and payload mode."""

    name: str
    keys: Mapping[str, bytes]  # read-only here: concentratord.keystore is the only writer
    raw: bool = False  # forward encrypted telegrams; the gateway holds no keys
    # Whether a meter (id, manufacturer or None for "some manufacturer") is this tenant's.
    meters: Callable[[str, str | None], bool] = lambda _meter_id, _manufacturer: True
    registry: Registry = BUILTIN  # the drivers: the package's, and drivers.dir's
    decoder: TelegramDecoder = field(init=False)

    def __post_init__(self) -> None:
        # One decoder per tenant: keys and learnt layouts never cross tenants.
        self.decoder = TelegramDecoder(self.keys, reject_replays=True, registry=self.registry)


@dataclass
class PipelineCounters:
    """Gateway-wide reception counters."""

    frames: int = 0
    repeats: int = 0
    link_errors: int = 0
    decode_errors: int = 0
    no_key: int = 0
    wrong_key: int = 0
    unassigned: int = 0
    readings: int = 0
    alarms: int = 0
    over_meter_limit: int = 0
    evicted: int = 0  # meters of no tenant forgotten to make room (limits.visible_meters)


@dataclass(frozen=True, slots=True)
class Heard:
    """How a telegram was heard: when, how strongly (None on a wire), over which link."""

    timestamp: float
    rssi_dbm: float | None
    link_mode: str
    interval_s: float | None = None  # known, not estimated: a wired meter's poll interval


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one frame produced."""

    reading: Reading | None = None
    alarm: AlarmEvent | None = None
    error: str | None = None
    repeat: bool = False
    meter: MeterState | None = None  # the sender, once known
    over_limit: bool = False  # a tenant's meter beyond limits.max_meters


class RepeatFilter:
    """Exact repeats within a window are dropped (meters and repeaters resend telegrams)."""

    def __init__(self, window_s: float, max_entries: int) -> None:
        self.window_s = window_s
        self.max_entries = max_entries
        self._seen: OrderedDict[bytes, float] = OrderedDict()

    def is_repeat(self, frame: bytes, now: float) -> bool:
        """True if the same bytes were seen within the window; remembers them either way."""
        seen = self._seen
        last = seen.get(frame)
        seen[frame] = now
        seen.move_to_end(frame)
        while len(seen) > self.max_entries:
            seen.popitem(last=False)
        while seen:
            oldest, when = next(iter(seen.items()))
            if now - when <= self.window_s:
                break
            del seen[oldest]
        return last is not None and now - last <= self.window_s


class Pipeline:
    """Frames -> link check -> repeat filter -> identity -> tenant -> key -> decode -> reading."""

    def __init__(
        self,
        tenants: Iterable[Tenant],
        *,
        repeat_window_s: float = 30.0,
        max_meters: int = 30_000,
        served_meters: int | None = None,
        served_heat_meters: int | None = None,
        reception_window_s: float = 86_400.0,
    ) -> None:
        """``max_meters``: meters tracked (``limits.visible_meters``; the least recently
        heard of no tenant make room); ``served_meters``: tenant meters collected
        (``limits.max_meters``; default: as many as tracked)."""
        self.tenants = list(tenants)
        # By identity, ``MAN:ID`` (a gateway hears its neighbours' meters, and ids are
        # unique per manufacturer only): two meters with one id never share a state.
        self.meters: dict[str, MeterState] = {}
        self.max_meters = max_meters
        self.reception_window_s = reception_window_s
        self.counters = PipelineCounters()
        # The same counts per tenant, of its own meters only: what a tenant may be shown.
        self.tenant_counters = {t.name: PipelineCounters() for t in self.tenants}
        self._by_name = {t.name: t for t in self.tenants}
        self._repeats = RepeatFilter(repeat_window_s, max(4 * max_meters, 1024))
        self._tenant_of: dict[str, Tenant | None] = {}
        self.limit = MeterLimit(
            max_meters if served_meters is None else served_meters, served_heat_meters
        )
        # Meters of no tenant (or over the limit), least recently heard first: evicted first.
        self._neighbours: OrderedDict[str, None] = OrderedDict()
        self._restored: dict[str, frozenset[str]] = {}  # flags of meters not heard yet

    def tenant_for(self, meter_id: str, manufacturer: str | None = None) -> Tenant | None:
        """The tenant whose meter this is (first match), cached; without ``manufacturer``,
        the tenant of that id of some manufacturer (the priority list and keys name ids)."""
        key = f"{manufacturer}:{meter_id}" if manufacturer is not None else meter_id
        if key not in self._tenant_of:
            self._tenant_of[key] = next(
                (t for t in self.tenants if t.meters(meter_id, manufacturer)), None
            )
        return self._tenant_of[key]

    def add_tenant(self, tenant: Tenant) -> None:
        """A tenant added at run time; the meters it now owns are given to it."""
        self.tenants.append(tenant)
        self._by_name[tenant.name] = tenant
        self.tenant_counters.setdefault(tenant.name, PipelineCounters())
        self.reassign()

    def remove_tenant(self, name: str) -> None:
        """A tenant removed: its meters belong to no tenant (or the next that claims them)."""
        self.tenants = [t for t in self.tenants if t.name != name]
        self._by_name.pop(name, None)
        self.reassign()

    def reassign(self, meter_ids: Iterable[str] | None = None) -> None:
        """Ask again whose these meters are (None: every meter): after a tenant or a key
        that claims meters came or went."""
        self._tenant_of.clear()
        wanted = None if meter_ids is None else {m.rpartition(":")[2] for m in meter_ids}
        for key, state in self.meters.items():
            if wanted is None or state.meter_id in wanted:
                self._assign(state, key)

    def _assign(self, state: MeterState, key: str) -> None:
        """Give ``state`` (the table's ``key``: one string shared by the table, the limit
        and the neighbours) its tenant, if the meter limit lets it be served."""
        tenant = self.tenant_for(state.meter_id, state.manufacturer)
        if tenant is not None and self.limit.admit(key, tenant.name, state.device_type):
            state.tenant, state.over_limit = tenant.name, False
            self._neighbours.pop(key, None)
            return
        if tenant is None:
            self.limit.release(key)  # served before, perhaps: its place is free
        state.tenant, state.over_limit = None, tenant is not None
        self._neighbours[key] = None

    def process(self, frame: RadioFrame) -> Outcome:
        """Run one radio frame through the pipeline."""
        self.counters.frames += 1
        try:
            # Radio frames are wireless: one canonical form (no CRCs) for the repeat filter
            # and the decoder alike, so the CRCs are checked once, as the module says they
            # are laid out (guessed only where it cannot say: radio/frame.py).
            canonical = strip_declared(frame.raw, frame.frame_format, frame.crc_present)
        except DecodeError as err:
            self.counters.link_errors += 1
            return Outcome(error=f"link layer: {err}")
        if len(canonical) < 11:
            self.counters.link_errors += 1
            return Outcome(error="frame shorter than a link header")
        address = peek_address(canonical)  # the one parse of M and A, decoder included
        state = self._state(address.key, address.id, address.manufacturer, address.device_type)
        if state is None:
            return self._over_limit()
        if self._repeats.is_repeat(canonical, frame.timestamp):
            self.counters.repeats += 1
            state.repeats += 1
            if state.tenant is not None:
                self.tenant_counters[state.tenant].repeats += 1
            return Outcome(repeat=True, meter=state)
        return self._collect(
            state,
            address.key,
            Heard(frame.timestamp, frame.rssi_dbm, frame.link_mode.value),
            lambda: canonical,
            lambda tenant: tenant.decoder.decode_canonical(canonical, address),
        )

    def process_wired(self, answer: WiredAnswer) -> Outcome:
        """Run one wired meter's answer to a poll through the pipeline: no repeat filter
        (the gateway asked for it), no RSSI, ``link_mode`` ``"mbus"``; the rest as a radio
        frame's (tenant, limit, decode, reading, alarm)."""
        self.counters.frames += 1
        try:
            address = answer.sender()
        except DecodeError as err:
            self.counters.link_errors += 1
            return Outcome(error=f"wired answer: {err}")
        state = self._state(address.key, address.id, address.manufacturer, address.device_type)
        if state is None:
            return self._over_limit()
        return self._collect(
            state,
            address.key,
            Heard(answer.timestamp, None, WIRED_LINK_MODE, answer.interval_s),
            answer.raw,
            lambda tenant: merged_telegram(answer.frames, tenant.decoder),
        )

    def _over_limit(self) -> Outcome:
        # The table holds served meters only (limits.visible_meters = max_meters): a
        # newcomer could only be one more over the limit.
        self.counters.over_meter_limit += 1
        return Outcome(error="meter limit reached", over_limit=True)

    def _collect(
        self,
        state: MeterState,
        key: str,
        heard: Heard,
        raw: Callable[[], bytes],
        decode: Callable[[Tenant], Telegram],
    ) -> Outcome:
        """A meter's telegram, after the link checks: counted as heard, then collected for
        its tenant (forwarded raw, or decoded into a reading and perhaps an alarm)."""
        reception = state.reception
        reception.heard(heard.timestamp, heard.rssi_dbm, heard.link_mode, heard.interval_s)
        # The meter's tenant was found when its state was made (or by reassign()).
        tenant = self._by_name[state.tenant] if state.tenant is not None else None
        if tenant is None:
            self._neighbours.move_to_end(key)
        if state.over_limit:
            self.counters.over_meter_limit += 1
            reception.decode = "over_limit"
            return Outcome(error="meter limit reached", meter=state, over_limit=True)
        if tenant is None:
            # Not decoded: the gateway holds no key of a meter that is no tenant's.
            self.counters.unassigned += 1
            reception.decode = "no_key"
            return Outcome(error=f"meter {state.meter_id} belongs to no tenant", meter=state)
        mine = self.tenant_counters[tenant.name]
        mine.frames += 1
        if tenant.raw:
            fields: dict[str, Any] = {
                "id": state.meter_id,
                "manufacturer": state.manufacturer,
                "telegram": raw().hex().upper(),
            }
        else:
            try:
                fields = telegram_fields(decode(tenant), registry=tenant.registry)
            except DecodeError as err:
                self._count_error(err, state, mine)
                return Outcome(error=str(err), meter=state)
        reception.decode = "ok"
        # The meter's own strings, not this telegram's copies: readings are kept per meter.
        meter_id = fields["id"] = state.meter_id
        fields["manufacturer"] = state.manufacturer
        reading = Reading(
            meter_id, tenant.name, heard.timestamp, fields, heard.rssi_dbm, heard.link_mode
        )
        self._remember(state, reading)
        self.counters.readings += 1
        mine.readings += 1
        alarm = self._alarm(state, reading)
        if alarm is not None:
            mine.alarms += 1
        return Outcome(reading=reading, alarm=alarm, meter=state)

    def _state(
        self, key: str, meter_id: str, manufacturer: str, device_type: int
    ) -> MeterState | None:
        state = self.meters.get(key)
        if state is None:
            if len(self.meters) >= self.max_meters and not self._evict_neighbour():
                return None
            reception = Reception(self.reception_window_s)
            state = MeterState(meter_id, manufacturer, None, device_type, reception)
            # Flags stored under MAN:ID; a store of an earlier version kept them by id alone.
            restored = self._restored.pop(key, None)
            state.flags = restored if restored is not None else self._restored.pop(meter_id, None)
            self._assign(state, key)
            self.meters[key] = state
        return state

    def _evict_neighbour(self) -> bool:
        """Make room: forget the least recently heard meter of no tenant; whether one was."""
        if not self._neighbours:
            return False
        key, _ = self._neighbours.popitem(last=False)
        self.meters.pop(key, None)  # never served (a neighbour): the limit keeps its name
        self.counters.evicted += 1
        return True

    def heard(self, meter: str) -> list[MeterState]:
        """The meters heard as ``meter``: ``MAN:ID`` names one; an id alone names that id of
        every manufacturer (usually one meter)."""
        if ":" in meter:
            state = self.meters.get(meter.upper())
            return [state] if state is not None else []
        wanted = meter.upper()
        return [s for s in self.meters.values() if s.meter_id == wanted]

    def _count_error(self, err: DecodeError, state: MeterState, mine: PipelineCounters) -> None:
        state.decode_errors += 1
        state.last_error = str(err)
        counter: str
        decode: Decode
        if isinstance(err, NoKeyError):
            counter, decode = "no_key", "no_key"
        elif isinstance(err, WrongKeyError):
            counter, decode = "wrong_key", "wrong_key"
        else:
            counter, decode = "decode_errors", "error"
        for counters in (self.counters, mine):
            setattr(counters, counter, getattr(counters, counter) + 1)
        state.reception.decode = decode

    @staticmethod
    def _remember(state: MeterState, reading: Reading) -> None:
        readings = state.readings
        if not readings or readings[-1].timestamp <= reading.timestamp:
            readings.append(reading)
        else:  # out of order (a slow reader thread): keep the history by reception time
            bisect.insort(readings, reading, key=lambda r: r.timestamp)
        if len(readings) > HISTORY:
            del readings[0]

    def _alarm(self, state: MeterState, reading: Reading) -> AlarmEvent | None:
        if "status" not in reading.fields:
            return None
        flags = reading.flags
        before = state.flags
        state.flags = flags
        if before is None:
            before = frozenset()  # first sight: any flag set is news
        raised, cleared = flags - before, before - flags
        if not raised and not cleared:
            return None
        self.counters.alarms += 1
        return AlarmEvent(
            reading.meter_id,
            reading.tenant,
            reading.timestamp,
            frozenset(raised),
            frozenset(cleared),
            str(reading.fields["status"]),
            reading,
            before,
        )

    def restore_reception(self, entries: Iterable[tuple[str, int, Reception]]) -> int:
        """Meters heard before a restart, with their reception statistics (not their
        readings: a snapshot takes only what was heard since). Returns how many."""
        restored = 0
        for key, device_type, reception in entries:
            manufacturer, _, meter_id = key.partition(":")
            if key in self.meters or len(self.meters) >= self.max_meters:
                continue
            state = MeterState(meter_id, manufacturer, None, device_type, reception)
            self._assign(state, key)
            self.meters[key] = state
            restored += 1
        return restored

    def restore_flags(self, flags: Mapping[str, frozenset[str]]) -> None:
        """Status flags known from before a restart (by ``MAN:ID``, or by id from an
        earlier version's store), so alarms are not raised twice.

        A meter not heard yet gets them when it is first heard: until then it is not listed
        (nor counted) as heard.
        """
        for meter, meter_flags in flags.items():
            states = self.heard(meter)
            if not states:
                self._restored[meter] = meter_flags
            for state in states:
                state.flags = meter_flags

    def snapshot(self, interval_end: float, meters: Iterable[str] | None = None) -> list[Reading]:
        """The latest reading before ``interval_end`` of each meter (or of ``meters``: ids,
        each for that id of every manufacturer)."""
        if meters is None:
            states: Iterable[MeterState] = self.meters.values()
        else:
            wanted = set(meters)
            states = (s for s in self.meters.values() if s.meter_id in wanted)
        out = []
        for state in states:
            reading = state.latest_before(interval_end)
            if reading is not None:
                out.append(reading)
        return out
