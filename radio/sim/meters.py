"""Simulated meters: their state and what they measure at a given simulated time.

Every total is a closed-form function of time (a mean rate shaped by a daily profile, plus
what alarms such as a leak have added), so a meter's value at any time is computed
directly: no per-step integration, monotonic totals, and the same value however the field
is stepped. Time ``t`` is simulated seconds since the field started; ``tod0`` is the
meter's time of day at ``t = 0`` (the field's start time plus a personal phase, so that not
every household showers at the same second).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from radio.sim.kinds import WATER_DURATION_OF, WATER_DURATION_SHIFT, EllTemplate, Kind, Raw
from radio.sim.kinds import duration_code as _duration_code

DAY = 86400.0
_TAU = 2 * math.pi
_HOUR = 3600.0
# Extra flow while a water alarm is active, m3 per second (a dripping pipe, a burst).
ALARM_FLOW = {"leak": 0.012 / _HOUR, "burst": 1.5 / _HOUR}
_CP_WATER = 1.163  # kWh per m3 per kelvin
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@dataclass(slots=True)
class Alarm:
    """An active alarm: since when, and (random alarms) when it clears by itself."""

    since: float
    until: float | None = None


@dataclass(slots=True)
class Profile:
    """A daily profile: 1 + a1 cos(2pi(x - p1)/day) + a2 cos(4pi(x - p2)/day), > 0."""

    a1: float
    p1: float
    a2: float
    p2: float

    def rate(self, x: float) -> float:
        """The relative rate at time of day ``x`` (mean 1 over a day)."""
        return (
            1.0
            + self.a1 * math.cos(_TAU * (x - self.p1) / DAY)
            + self.a2 * math.cos(2 * _TAU * (x - self.p2) / DAY)
        )

    def cumulative(self, x: float) -> float:
        """The integral of :meth:`rate` from 0 to ``x`` (increasing: the rate is > 0)."""
        return (
            x
            + self.a1 * DAY / _TAU * math.sin(_TAU * (x - self.p1) / DAY)
            + self.a2 * DAY / (2 * _TAU) * math.sin(2 * _TAU * (x - self.p2) / DAY)
        )


# Water: morning and evening peaks, quiet nights. Heat: a morning peak. Electricity: evening.
WATER_PROFILE = Profile(0.45, 13.5 * _HOUR, 0.45, 7.5 * _HOUR)
HEAT_PROFILE = Profile(0.25, 6.5 * _HOUR, 0.1, 7 * _HOUR)
POWER_PROFILE = Profile(0.35, 19 * _HOUR, 0.3, 8 * _HOUR)
PROFILES = {
    "water": WATER_PROFILE,
    "oms_water": WATER_PROFILE,
    "pressure": WATER_PROFILE,
    "heat": HEAT_PROFILE,
    "electricity": POWER_PROFILE,
}


def solar_cumulative(x: float) -> float:
    """Integral of max(0, sin(pi (tod - 6 h) / 12 h)) from 0 to ``x``: a PV day."""
    days, tod = divmod(x, DAY)
    half = DAY / 2
    if tod <= DAY / 4:
        part = 0.0
    elif tod >= 3 * DAY / 4:
        part = DAY / math.pi
    else:
        part = DAY / _TAU * (1 - math.cos(math.pi * (tod - DAY / 4) / half))
    return days * DAY / math.pi + part


def solar_rate(x: float) -> float:
    """The relative PV output at time of day ``x`` (0 at night, 1 at noon)."""
    tod = x % DAY
    return max(0.0, math.sin(math.pi * (tod - DAY / 4) / (DAY / 2)))


@dataclass(slots=True)
class SimMeter:
    """One simulated meter. ``a``-``d`` are the kind's own parameters (see the models)."""

    index: int
    meter_id: str
    kind: Kind
    key: bytes
    interval: float
    tod0: float  # time of day at t = 0, seconds
    base: float  # the total at t = 0, in the kind's unit
    rate: float  # mean rate per second, in the kind's unit
    a: float
    b: float
    c: float
    d: float
    mean_rssi: float
    distance_m: float
    count: int  # the next telegram's number (every 8th is a full frame)
    template: EllTemplate | None = None
    alarms: dict[str, Alarm] | None = None
    extra: float = 0.0  # what alarms added to the total until extra_since
    extra_rate: float = 0.0
    extra_since: float = 0.0

    def total_extra(self, t: float) -> float:
        """What active and past alarms added to the total by time ``t``."""
        return self.extra + self.extra_rate * max(0.0, t - self.extra_since)

    def set_alarm(self, name: str, t: float, until: float | None = None) -> None:
        """Raise alarm ``name`` at time ``t`` (no-op when already active)."""
        if self.alarms is None:
            self.alarms = {}
        if name in self.alarms:
            return
        self.alarms[name] = Alarm(t, until)
        self._change_flow(t, ALARM_FLOW.get(name, 0.0))

    def clear_alarm(self, name: str, t: float) -> bool:
        """Clear alarm ``name`` at time ``t``; False when it was not active."""
        if not self.alarms or name not in self.alarms:
            return False
        del self.alarms[name]
        self._change_flow(t, -ALARM_FLOW.get(name, 0.0))
        return True

    def _change_flow(self, t: float, delta: float) -> None:
        if not delta or self.kind.name not in ("water", "oms_water"):
            return
        self.extra = self.total_extra(t)
        self.extra_since = t
        self.extra_rate = max(0.0, self.extra_rate + delta)

    def status_bits(self, t: float) -> int:
        """The status record's bits at time ``t`` (alarms, and water alarm durations)."""
        if not self.alarms:
            return 0
        bits = 0
        water = self.kind.name == "water"
        for name, alarm in self.alarms.items():
            bits |= self.kind.alarms[name]
            if water:
                code = _duration_code(max(0.0, t - alarm.since) / _HOUR)
                bits |= code << WATER_DURATION_SHIFT[WATER_DURATION_OF[name]]
        return bits


@lru_cache(maxsize=1024)
def calendar(day: int) -> tuple[str, int, str]:
    """For a day number since 1970: its date, its month's first day number, and that date."""
    d = date.fromordinal(_EPOCH_ORDINAL + day)
    first = d.replace(day=1)
    return d.isoformat(), day - (d - first).days, first.isoformat()


def epoch_day(epoch: float, t: float) -> int:
    """The day number (since 1970-01-01 UTC) at simulated time ``t``."""
    return int((epoch + t) // DAY)


def values(m: SimMeter, t: float, epoch: float) -> Raw:
    """The raw record values meter ``m`` sends at simulated time ``t``."""
    return _MODELS[m.kind.name](m, t, epoch)


def _curve(m: SimMeter, t: float) -> float:
    """base + rate x (profile integral from 0 to t): the total without alarms."""
    profile = PROFILES[m.kind.name]
    return m.base + m.rate * (profile.cumulative(m.tod0 + t) - profile.cumulative(m.tod0))


def _month_start(epoch: float, t: float) -> tuple[str, float, str]:
    """Today's date, the simulated time at which this month began, and that date."""
    today, first_day, first_date = calendar(epoch_day(epoch, t))
    return today, first_day * DAY - epoch, first_date


def _water(m: SimMeter, t: float, epoch: float) -> Raw:
    # a: water temperature (C), b: lowest outdoor temperature last month (C).
    total = int((_curve(m, t) + m.total_extra(t)) * 1000)
    _, t_month, _ = _month_start(epoch, t)
    target = int(_curve(m, t_month) * 1000)
    return (m.status_bits(t), total, target, int(m.a), int(m.b))


def _oms_water(m: SimMeter, t: float, epoch: float) -> Raw:
    total = int((_curve(m, t) + m.total_extra(t)) * 1000)
    _, t_month, first = _month_start(epoch, t)
    target = int(_curve(m, t_month) * 1000)
    return (total, target, first, m.status_bits(t))


def _heat(m: SimMeter, t: float, epoch: float) -> Raw:
    # base/rate: energy kWh and kWh/s; a: design delta-T (K); b: supply temperature (C);
    # c: volume at t = 0 (m3).
    energy = _curve(m, t)
    volume = m.c + (energy - m.base) / (_CP_WATER * m.a)
    today, t_month, first = _month_start(epoch, t)
    target_energy = _curve(m, t_month)
    target_volume = m.c + (target_energy - m.base) / (_CP_WATER * m.a)
    x = m.tod0 + t
    power_kw = m.rate * _HOUR * HEAT_PROFILE.rate(x)
    flow_lh = int(power_kw / (_CP_WATER * m.a) * 1000)
    t1 = round((m.b + 2.0 * math.cos(_TAU * (x - 6 * _HOUR) / DAY)) * 100)
    t2 = t1 - round(m.a * 100)
    return (
        int(energy),
        int(volume * m.b),
        int(volume * (m.b - m.a)),
        int(volume * 100),
        flow_lh,
        t1,
        t2,
        m.status_bits(t),
        today,
        int(target_energy),
        int(target_volume * 100),
        first,
    )


def _pressure(m: SimMeter, t: float, epoch: float) -> Raw:
    # a: static pressure (bar); c, d: the sensor's calibration constants (float32).
    x = m.tod0 + t
    p = m.a * (1 - 0.06 * (WATER_PROFILE.rate(x) - 1))
    if m.alarms and "pressure_drop" in m.alarms:
        p *= 0.3
    spread = 0.04 + 0.04 * abs(math.sin(_TAU * x / DAY))
    return (
        round((p - spread) * 100),
        round((p + spread) * 100),
        round(p * 100),
        m.c,
        m.d,
        m.status_bits(t),
    )


def _electricity(m: SimMeter, t: float, epoch: float) -> Raw:
    # base/rate: imported kWh and kWh/s; a: PV peak (kW, 0 without PV); b: exported kWh at 0.
    x = m.tod0 + t
    imported = _curve(m, t)
    exported = m.b + m.a / _HOUR * (solar_cumulative(x) - solar_cumulative(m.tod0))
    load_w = int(m.rate * _HOUR * POWER_PROFILE.rate(x) * 1000)
    pv_w = int(m.a * solar_rate(x) * 1000)
    return (int(imported * 100), int(exported * 100), load_w, pv_w)


_MODELS = {
    "water": _water,
    "oms_water": _oms_water,
    "heat": _heat,
    "pressure": _pressure,
    "electricity": _electricity,
}
