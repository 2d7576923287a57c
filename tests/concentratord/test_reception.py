"""concentratord.reception: one meter's counts, signal, interval and reception rate."""

from __future__ import annotations

import random

import pytest

from concentratord.reception import BUCKETS, Reception, estimate_interval

DAY = 86_400.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def heard_every(interval: float, count: int, *, keep: float = 1.0, seed: int = 1) -> Reception:
    """A meter sending every ``interval`` s, ``count`` times, of which ``keep`` are heard."""
    rng = random.Random(seed)
    r = Reception(DAY)
    for n in range(count):
        if n == 0 or rng.random() < keep:
            r.heard(T0 + n * interval, -80.0, "c1")
    return r


def test_the_interval_is_the_gap_between_telegrams() -> None:
    r = heard_every(96.0, 20)
    assert r.interval_s == pytest.approx(96.0)


def test_the_interval_is_found_when_half_the_telegrams_are_lost() -> None:
    r = heard_every(96.0, 200, keep=0.5)
    assert r.interval_s == pytest.approx(96.0)


def test_the_interval_stands_jitter() -> None:
    rng = random.Random(3)
    r = Reception(DAY)
    for n in range(40):
        r.heard(T0 + n * 900.0 + rng.uniform(-27, 27), None, "t1")
    assert r.interval_s == pytest.approx(900.0, rel=0.03)


def test_no_interval_and_no_rate_before_three_gaps() -> None:
    r = heard_every(96.0, 3)
    assert r.interval_s is None
    assert r.reception_rate(T0 + 300) is None
    assert r.quality(T0 + 300, 0.8) == "unknown"


def test_a_meter_heard_every_time_is_received_in_full() -> None:
    r = heard_every(96.0, 100)
    assert r.reception_rate(r.last_heard + 50.0) == pytest.approx(1.0)


def test_the_rate_is_the_share_of_telegrams_received() -> None:
    r = heard_every(96.0, 600, keep=0.5, seed=7)
    share = r.telegrams / 600
    assert r.reception_rate(T0 + 599 * 96.0) == pytest.approx(share, abs=0.02)


def test_telegrams_missing_since_the_last_one_lower_the_rate() -> None:
    r = heard_every(96.0, 100)
    # 100 more intervals without a telegram: half of those expected were received.
    assert r.reception_rate(T0 + 199 * 96.0) == pytest.approx(0.5, abs=0.01)


def test_only_the_window_counts() -> None:
    r = Reception(DAY)
    heard = []
    for n in range(int(2 * DAY / 96)):  # two days, the first one with every telegram lost
        if n * 96.0 < DAY and n > 3:
            continue
        heard.append(T0 + n * 96.0)
        r.heard(heard[-1], None, "c1")
    now = T0 + 2 * DAY
    received, start = r.received_in_window(now)
    assert start > T0 + DAY - DAY / BUCKETS
    assert received == sum(1 for t in heard if t >= start)
    assert r.reception_rate(now) == pytest.approx(1.0, abs=0.01)


def test_quality_follows_the_threshold() -> None:
    r = heard_every(96.0, 200, keep=0.7, seed=2)
    now = T0 + 199 * 96.0
    rate = r.reception_rate(now)
    assert rate is not None
    assert r.quality(now, rate - 0.01) == "good"
    assert r.quality(now, rate + 0.01) == "poor"


def test_rssi_figures_are_last_min_mean_max() -> None:
    r = Reception(DAY)
    for n, rssi in enumerate((-70.0, -90.0, -80.0)):
        r.heard(T0 + 96 * n, rssi, "c1")
    assert (r.rssi_last, r.rssi_min, r.rssi_mean, r.rssi_max) == (-80.0, -90.0, -80.0, -70.0)


def test_a_meter_is_silent_after_the_intervals_it_missed() -> None:
    r = heard_every(96.0, 10)
    assert not r.is_silent(r.last_heard + 12 * 96.0 - 1, 12)
    assert r.is_silent(r.last_heard + 12 * 96.0 + 1, 12)


def test_a_meter_without_an_interval_is_never_silent() -> None:
    r = heard_every(96.0, 2)
    assert not r.is_silent(r.last_heard + 365 * DAY, 12)


def test_statistics_survive_dump_and_load() -> None:
    r = heard_every(96.0, 50, keep=0.8)
    r.silent = True
    back = Reception.load(DAY, r.dump())
    now = r.last_heard + 10
    assert back.dump() == r.dump()
    assert back.reception_rate(now) == r.reception_rate(now)
    assert back.interval_s == r.interval_s


@pytest.mark.parametrize(
    "data",
    [
        [],
        [1, 2, 3],
        ["x"] * 14,
        [0, 0, 0, None, None, None, 0, 0, "c1", "bad", None, [0] * 24, 0, 0],
    ],
)
def test_loading_what_is_not_statistics_is_refused(data: list[object]) -> None:
    with pytest.raises(ValueError, match="not reception statistics"):
        Reception.load(DAY, data)


def test_estimate_interval_divides_each_gap_by_its_intervals() -> None:
    assert estimate_interval([96.0, 192.0, 288.0, 97.0, 95.0]) == pytest.approx(96.0, abs=0.5)
