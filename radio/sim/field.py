"""A simulated field of wireless M-Bus meters: a pure, seeded generator of transmissions.

Nothing here reads a clock: :meth:`Field.events_until` is driven by *simulated* time
(seconds since the field started) and returns every transmission that began by then, in
time order, each with its frame bytes, RSSI, whether it was lost on the air (and why) and
the values a decoder must read from it. The same seed gives the same field, however the
caller steps time. :mod:`radio.sim.runner` paces a field in real time into a module
emulator; :mod:`radio.sim.schedule` saves a pre-generated hour for benchmarks.

Radio model. Kamstrup meters send C1 every 16 s (drive-by) or 96 s (fixed network), every
8th telegram a full frame and compact frames in between; OMS meters send T1 every 15 min
(150 s in drive-by mode), each with a random phase and a small jitter. RSSI follows a
log-distance path loss from a random distance per meter, with per-meter shadowing and
per-telegram fading. A telegram is lost below the receiver's sensitivity, at random (the
``loss`` probability), or when it overlaps another on the air: the stronger one survives
when it is ``capture_db`` louder (capture effect), otherwise both are lost.

Three random streams, each consumed in time order, keep the field deterministic however
:meth:`events_until` is stepped: one builds the meters, one draws the air (schedule,
fading, loss), one draws random alarms as telegrams are released.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from radio.frame import LinkMode
from radio.sim import meters as model
from radio.sim.kinds import KINDS, SAMPLE_RAW, EllTemplate, Kind, Raw, Truth, oms_frame
from radio.sim.meters import DAY, SimMeter
from radio.sim.truth import TruthLog

DEFAULT_MIX = {"water": 0.7, "heat": 0.1, "pressure": 0.03, "electricity": 0.1, "oms_water": 0.07}
DEFAULT_EPOCH = 1767225600.0  # 2026-01-01T00:00:00Z: a fixed start keeps a seed's values fixed
INTERVALS = {("fixed", LinkMode.C1): 96.0, ("driveby", LinkMode.C1): 16.0}
INTERVALS |= {("fixed", LinkMode.T1): 900.0, ("driveby", LinkMode.T1): 150.0}
FULL_EVERY = 8
JITTER = 0.03  # +-3 % of the interval
RANDOM_ALARM_MEAN_S = 4 * 3600.0
# Radio: +14 dBm transmitters, free-space loss at 1 m (868 MHz), urban exponent 2.8.
TX_DBM, PL_1M_DB, PATH_EXPONENT = 14.0, 31.2, 2.8
SHADOW_MEAN_DB, SHADOW_SIGMA_DB, FADING_SIGMA_DB = 3.0, 5.0, 2.0
DISTANCE_M = {"fixed": (10.0, 600.0), "driveby": (5.0, 150.0)}
RSSI_RANGE = (-120.0, -20.0)


@dataclass(frozen=True, slots=True)
class FieldConfig:
    """How the field is made. ``alarm_rate`` is random alarms per meter per simulated day."""

    meters: int = 100
    mode: str = "fixed"  # fixed | driveby
    seed: int = 0
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    loss: float = 0.0
    alarm_rate: float = 0.0
    collisions: bool = True
    capture_db: float = 6.0
    sensitivity_dbm: float = -105.0
    epoch: float = DEFAULT_EPOCH  # UTC seconds at simulated time 0 (meter dates, day profiles)
    truth_depth: int = 256  # telegrams kept per meter for truth queries; 0: none


@dataclass(frozen=True, slots=True)
class Transmission:
    """One telegram on the air. ``frame`` is L C M A ... without link-layer CRCs."""

    t: float  # simulated seconds since the field started
    meter_id: str
    kind: Kind
    link_mode: LinkMode
    frame: bytes
    rssi_dbm: float
    lost: bool
    reason: str | None  # sensitivity | noise | collision, when lost
    full: bool  # a full frame (False: a compact frame)
    count: int
    raw: Raw

    @property
    def truth(self) -> Truth:
        """The decoded fields a reader must get from this telegram (``id``, values, status)."""
        return {"id": self.meter_id, **self.kind.truth(self.raw)}


class _Slot:
    """A transmission whose air time is known but whose content is made at release."""

    __slots__ = ("count", "end", "full", "meter", "reason", "rssi", "t")

    def __init__(self, t: float, end: float, rssi: float, meter: SimMeter, count: int) -> None:
        self.t, self.end, self.rssi, self.meter, self.count = t, end, rssi, meter, count
        self.full = meter.kind.ell is False or count % FULL_EVERY == 0
        self.reason: str | None = None


def airtime(length: int, link_mode: LinkMode) -> float:
    """Seconds on the air of a frame of ``length`` bytes (L included, CRCs not)."""
    if link_mode is LinkMode.T1:  # format A, 3-out-of-6: 12 chips per byte at 100 kchip/s
        crcs = 2 + 2 * math.ceil(max(length - 10, 0) / 16)
        return (length + crcs + 6) * 12 / 100_000
    crcs = 2 if length <= 126 else 4  # C1 format B at 100 kbit/s; preamble and sync ~10 bytes
    return (length + crcs + 10) * 8 / 100_000


def _sample_lengths() -> dict[tuple[str, bool], int]:
    key = bytes(16)
    out: dict[tuple[str, bool], int] = {}
    for name, kind in KINDS.items():
        address = kind.address("00000000")
        for full in (True, False):
            raw = SAMPLE_RAW[name]
            if kind.ell:
                frame = EllTemplate(kind, address, key).frame(raw, full, 0)
            else:
                frame = oms_frame(kind, address, key, raw, 0)
            out[(name, full)] = len(frame)
    return out


FRAME_LENGTHS = _sample_lengths()
MAX_AIRTIME = max(airtime(n, KINDS[name].link_mode) for (name, _), n in FRAME_LENGTHS.items())


def kind_counts(n: int, mix: dict[str, float]) -> dict[str, int]:
    """How many meters of each kind: proportional, each named kind at least once if n allows."""
    shares = {k: v for k, v in mix.items() if v > 0}
    unknown = set(shares) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown meter kinds {sorted(unknown)}; known: {sorted(KINDS)}")
    if not shares:
        raise ValueError("the meter mix is empty")
    total = sum(shares.values())
    counts = {k: int(n * v / total) for k, v in shares.items()}
    for k in sorted(shares, key=lambda k: -shares[k]):
        if sum(counts.values()) >= n:
            break
        counts[k] += 1
    for k in shares:  # every kind asked for appears, taken from the largest
        if counts[k] == 0 and n >= len(shares):
            biggest = max(counts, key=lambda j: counts[j])
            counts[biggest] -= 1
            counts[k] = 1
    return counts


class Field:
    """The simulated meter field. See the module docstring."""

    def __init__(self, config: FieldConfig | None = None) -> None:
        self.config = config or FieldConfig()
        if self.config.mode not in ("fixed", "driveby"):
            raise ValueError(f"mode must be fixed or driveby, not {self.config.mode!r}")
        seed = self.config.seed
        self._air = random.Random(f"{seed}/air")
        self._life = random.Random(f"{seed}/alarms")
        self.meters: list[SimMeter] = _make_meters(self.config, random.Random(f"{seed}/meters"))
        self.by_id = {m.meter_id: m for m in self.meters}
        self.truth = TruthLog(self.config.truth_depth)
        self.now = 0.0  # the simulated time released so far
        self._heap = [(self._air.uniform(0, m.interval), m.index) for m in self.meters]
        heapq.heapify(self._heap)
        self._pending: deque[_Slot] = deque()
        self._on_air: list[_Slot] = []

    # -- the public API -----------------------------------------------------------------

    def keys(self) -> dict[str, bytes]:
        """Every meter's AES-128 key by meter id."""
        return {m.meter_id: m.key for m in self.meters}

    def keys_text(self) -> str:
        """The keys file (``ID HEX`` lines) that lets a gateway decrypt this field."""
        lines = [f"{m.meter_id} {m.key.hex().upper()}" for m in self.meters]
        return "# concentratord simulated field keys: ID HEX\n" + "\n".join(lines) + "\n"

    def next_time(self) -> float | None:
        """When the next transmission not yet released starts (None: an empty field)."""
        if self._pending:
            return self._pending[0].t
        return self._heap[0][0] if self._heap else None

    def events_until(self, t_sim: float) -> list[Transmission]:
        """Every transmission that starts after the last call and at or before ``t_sim``."""
        # Air time is drawn ahead by one maximal telegram so that a released telegram's
        # collisions with later ones are already known.
        horizon = t_sim + MAX_AIRTIME
        heap, meters = self._heap, self.meters
        while heap and heap[0][0] <= horizon:
            t, index = heapq.heappop(heap)
            meter = meters[index]
            self._pending.append(self._start(meter, t))
            jitter = 1.0 + JITTER * (2.0 * self._air.random() - 1.0)
            heapq.heappush(heap, (t + meter.interval * jitter, index))
        out: list[Transmission] = []
        pending = self._pending
        while pending and pending[0].t <= t_sim:
            out.append(self._release(pending.popleft()))
        self.now = max(self.now, t_sim)
        return out

    def transmissions(self, duration_s: float, step_s: float = 60.0) -> Iterator[Transmission]:
        """Every transmission of the next ``duration_s`` simulated seconds, lazily."""
        end = self.now + duration_s
        t = self.now
        while t < end:
            t = min(t + step_s, end)
            yield from self.events_until(t)

    def pregenerate(self, duration_s: float) -> list[Transmission]:
        """The next ``duration_s`` simulated seconds of transmissions, as one list."""
        return list(self.transmissions(duration_s))

    def alarm_names(self, meter_id: str) -> list[str]:
        """The alarms this meter can raise."""
        return sorted(self._meter(meter_id).kind.alarms)

    def inject_alarm(self, meter_id: str, name: str) -> None:
        """Raise an alarm now; telegrams sent from now on carry it until it is cleared."""
        meter = self._meter(meter_id)
        if name not in meter.kind.alarms:
            supported = ", ".join(sorted(meter.kind.alarms)) or "none"
            raise ValueError(
                f"a {meter.kind.name} meter has no {name!r} alarm (supported: {supported})"
            )
        meter.set_alarm(name, self.now)
        assert meter.alarms is not None
        meter.alarms[name].until = None  # asked for: stays until cleared

    def clear_alarm(self, meter_id: str, name: str | None = None) -> None:
        """Clear one alarm (or all of a meter's alarms) now."""
        meter = self._meter(meter_id)
        names = [name] if name is not None else list(meter.alarms or ())
        for n in names:
            meter.clear_alarm(n, self.now)

    def active_alarms(self, meter_id: str) -> list[str]:
        """The alarms active on a meter."""
        return sorted(self._meter(meter_id).alarms or ())

    # -- inside -------------------------------------------------------------------------

    def _meter(self, meter_id: str) -> SimMeter:
        try:
            return self.by_id[meter_id]
        except KeyError:
            raise KeyError(f"no meter {meter_id!r} in the field") from None

    def _start(self, meter: SimMeter, t: float) -> _Slot:
        cfg, air = self.config, self._air
        count = meter.count
        meter.count += 1
        rssi = meter.mean_rssi + air.gauss(0.0, FADING_SIGMA_DB)
        rssi = min(max(round(rssi * 2) / 2, RSSI_RANGE[0]), RSSI_RANGE[1])
        kind = meter.kind
        length = FRAME_LENGTHS[(kind.name, not kind.ell or count % FULL_EVERY == 0)]
        slot = _Slot(t, t + airtime(length, kind.link_mode), rssi, meter, count)
        if rssi < cfg.sensitivity_dbm:
            slot.reason = "sensitivity"
        elif cfg.loss and air.random() < cfg.loss:
            slot.reason = "noise"
        if cfg.collisions:
            self._on_air = [s for s in self._on_air if s.end > t]
            for other in self._on_air:
                self._collide(other, slot)
            self._on_air.append(slot)
        return slot

    def _collide(self, a: _Slot, b: _Slot) -> None:
        capture = self.config.capture_db
        if a.rssi - b.rssi < capture:  # a does not capture the receiver over b
            a.reason = a.reason or "collision"
        if b.rssi - a.rssi < capture:
            b.reason = b.reason or "collision"

    def _release(self, slot: _Slot) -> Transmission:
        meter, t = slot.meter, slot.t
        kind = meter.kind
        if meter.alarms:
            for name, alarm in list(meter.alarms.items()):
                if alarm.until is not None and alarm.until <= t:
                    meter.clear_alarm(name, alarm.until)
        rate = self.config.alarm_rate
        if rate and kind.alarms and self._life.random() < rate * meter.interval / DAY:
            name = self._life.choice(sorted(kind.alarms))
            meter.set_alarm(name, t, t + self._life.expovariate(1 / RANDOM_ALARM_MEAN_S))
        raw = model.values(meter, t, self.config.epoch)
        if meter.template is not None:
            frame = meter.template.frame(raw, slot.full, slot.count)
        else:
            frame = oms_frame(kind, kind.address(meter.meter_id), meter.key, raw, slot.count)
        tx = Transmission(
            t,
            meter.meter_id,
            kind,
            kind.link_mode,
            frame,
            slot.rssi,
            slot.reason is not None,
            slot.reason,
            slot.full,
            slot.count,
            raw,
        )
        if not tx.lost:
            self.truth.record(tx)
        return tx


def _make_meters(cfg: FieldConfig, rng: random.Random) -> list[SimMeter]:
    counts = kind_counts(cfg.meters, cfg.mix)
    kinds = [KINDS[name] for name, n in counts.items() for _ in range(n)]
    rng.shuffle(kinds)
    ids = rng.sample(range(10_000_000, 100_000_000), len(kinds))
    d_min, d_max = DISTANCE_M[cfg.mode]
    out: list[SimMeter] = []
    for index, (kind, number) in enumerate(zip(kinds, ids, strict=True)):
        meter_id = f"{number:08d}"
        key = rng.randbytes(16)
        # Uniform over the area of a ring around the gateway.
        distance = math.sqrt(rng.uniform(d_min**2, d_max**2))
        shadow = rng.gauss(SHADOW_MEAN_DB, SHADOW_SIGMA_DB)
        mean_rssi = TX_DBM - PL_1M_DB - 10 * PATH_EXPONENT * math.log10(distance) - shadow
        tod0 = (cfg.epoch + rng.uniform(-3600.0, 3600.0)) % DAY
        base, rate, a, b, c, d = _parameters(kind.name, rng)
        meter = SimMeter(
            index=index,
            meter_id=meter_id,
            kind=kind,
            key=key,
            interval=INTERVALS[(cfg.mode, kind.link_mode)],
            tod0=tod0,
            base=base,
            rate=rate,
            a=a,
            b=b,
            c=c,
            d=d,
            mean_rssi=mean_rssi,
            distance_m=distance,
            count=rng.randrange(FULL_EVERY),
        )
        if kind.ell:
            meter.template = EllTemplate(kind, kind.address(meter_id), key)
        out.append(meter)
    return out


def _parameters(kind: str, rng: random.Random) -> tuple[float, float, float, float, float, float]:
    """(base, rate, a, b, c, d) of a new meter: see the models in radio.sim.meters."""
    u = rng.uniform
    if kind in ("water", "oms_water"):
        # 100-600 litres a day; water 6-14 C; the month's coldest outdoor temperature.
        return u(20, 900), u(0.1, 0.6) / DAY, rng.randint(6, 14), rng.randint(-8, 12), 0, 0
    if kind == "heat":
        # 0.4-2.5 kW mean load, 20-35 K cooling, 60-75 C supply.
        return u(2000, 60000), u(0.4, 2.5) / 3600, u(20, 35), u(60, 75), u(100, 3000), 0
    if kind == "pressure":
        # Calibration constants with four decimals survive the trip through a float32.
        return 0, 0, u(2.5, 6.0), 0, round(u(0.98, 1.02), 4), round(u(-0.05, 0.05), 4)
    # electricity: 0.2-0.8 kW mean load; one in five with a 2-6 kW PV plant.
    pv = u(2, 6) if rng.random() < 0.2 else 0.0
    return u(1000, 40000), u(0.2, 0.8) / 3600, pv, u(0, 5000) if pv else 0.0, 0, 0
