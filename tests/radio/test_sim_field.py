"""The simulated meter field: determinism, cadence, real decodable bytes, alarms, the air,
ground truth, schedules, and the runner feeding an emulated iM871A that a real driver reads."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from protocols.backoff import Backoff
from protocols.readout import telegram_fields
from protocols.wmbus.build import build_telegram
from protocols.wmbus.decoder import TelegramDecoder
from radio.frame import LinkMode
from radio.modules.imst import Im871aDriver, rssi_dbm, rssi_raw
from radio.sim.field import Field, FieldConfig, Transmission, airtime, kind_counts
from radio.sim.imst import Im871aEmulator
from radio.sim.kinds import KINDS, SAMPLE_RAW, EllTemplate, reference_spec
from radio.sim.runner import FieldRunner, ScheduleSource
from radio.sim.schedule import load_schedule, save_schedule

ALL_KINDS = {"water": 0.4, "heat": 0.15, "pressure": 0.15, "electricity": 0.15, "oms_water": 0.15}


def field(**kw: object) -> Field:
    args: dict[str, object] = {"meters": 30, "seed": 7, "mode": "driveby", "mix": ALL_KINDS}
    args.update(kw)
    return Field(FieldConfig(**args))  # type: ignore[arg-type]


def by_meter(txs: list[Transmission]) -> dict[str, list[Transmission]]:
    out: dict[str, list[Transmission]] = defaultdict(list)
    for tx in txs:
        out[tx.meter_id].append(tx)
    return out


def first_of_kind(f: Field, kind: str) -> str:
    return next(m.meter_id for m in f.meters if m.kind.name == kind)


def decoded(f: Field, tx: Transmission) -> dict[str, object]:
    # A fresh decoder each time: compact frames must decode by the drivers' declared layouts.
    return telegram_fields(TelegramDecoder(f.keys()).decode(tx.frame))


# -- determinism and cadence -------------------------------------------------------------


def test_same_seed_gives_the_same_transmissions() -> None:
    a, b = field().pregenerate(600), field().pregenerate(600)
    assert [(t.t, t.frame, t.rssi_dbm, t.lost) for t in a] == [
        (t.t, t.frame, t.rssi_dbm, t.lost) for t in b
    ]


def test_another_seed_gives_other_meters_and_keys() -> None:
    assert field(seed=1).keys() != field(seed=2).keys()


def test_stepping_time_finely_or_at_once_gives_the_same_transmissions() -> None:
    coarse = field(alarm_rate=20.0).events_until(900)
    fine_field = field(alarm_rate=20.0)
    fine = [tx for step in range(1, 9001) for tx in fine_field.events_until(step / 10)]
    assert [(t.t, t.frame, t.lost) for t in coarse] == [(t.t, t.frame, t.lost) for t in fine]


@pytest.mark.parametrize(
    ("mode", "kind", "interval"),
    [("fixed", "water", 96.0), ("driveby", "water", 16.0), ("fixed", "oms_water", 900.0)],
)
def test_meters_send_at_their_mode_interval_with_small_jitter(
    mode: str, kind: str, interval: float
) -> None:
    f = field(mode=mode)
    txs = by_meter(f.pregenerate(interval * 12))[first_of_kind(f, kind)]
    gaps = [b.t - a.t for a, b in itertools.pairwise(txs)]
    assert len(gaps) >= 10
    assert all(0.96 * interval <= g <= 1.04 * interval for g in gaps)
    assert len({round(g, 3) for g in gaps}) > 1  # jittered, not a metronome


def test_meters_start_at_different_phases() -> None:
    f = field(meters=20, mix={"water": 1.0})
    firsts = [txs[0].t for txs in by_meter(f.pregenerate(16)).values()]
    assert len(firsts) == 20 and max(firsts) - min(firsts) > 8


def test_every_eighth_kamstrup_telegram_is_a_full_frame() -> None:
    f = field()
    txs = by_meter(f.pregenerate(16 * 40))[first_of_kind(f, "water")]
    cis = [TelegramDecoder(f.keys()).decode(tx.frame).ci for tx in txs]
    fulls = [i for i, ci in enumerate(cis) if ci == 0x78]
    assert set(cis) == {0x78, 0x79}
    assert all(b - a == 8 for a, b in itertools.pairwise(fulls))


def test_oms_meters_send_t1_mode_5_full_telegrams() -> None:
    f = field()
    tx = next(t for t in f.pregenerate(300) if t.kind.name == "oms_water")
    telegram = TelegramDecoder(f.keys()).decode(tx.frame)
    assert (tx.link_mode, telegram.security_mode, telegram.encrypted) == (LinkMode.T1, 5, True)


def test_kind_counts_follow_the_mix_and_include_every_kind() -> None:
    counts = kind_counts(10, {"water": 0.9, "heat": 0.05, "pressure": 0.05})
    assert counts == {"water": 8, "heat": 1, "pressure": 1}


# -- real bytes ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(k for k, v in KINDS.items() if v.ell))
@pytest.mark.parametrize("full", [True, False])
def test_frame_template_is_byte_for_byte_the_protocols_builder(kind: str, full: bool) -> None:
    k = KINDS[kind]
    address, key = k.address("12345678"), bytes(range(16))
    for count in (0, 1, 255, 256, 70000):
        ref = build_telegram(reference_spec(k, address, SAMPLE_RAW[kind], full, count), key)
        assert EllTemplate(k, address, key).frame(SAMPLE_RAW[kind], full, count) == ref


def test_every_telegram_decodes_to_its_ground_truth() -> None:
    f = field(alarm_rate=10.0, collisions=False)
    txs = f.pregenerate(1200)
    assert {tx.kind.name for tx in txs} == set(ALL_KINDS)
    decoder = TelegramDecoder(f.keys(), layouts=None)
    for tx in txs:
        got = telegram_fields(decoder.decode(tx.frame))
        assert {k: got.get(k) for k in tx.truth} == tx.truth


def test_compact_frames_decode_by_declared_layouts_alone() -> None:
    f = field()
    compact = [tx for tx in f.pregenerate(300) if not tx.full][:40]
    assert {tx.kind.name for tx in compact} == {"water", "heat", "pressure", "electricity"}
    for tx in compact:
        got = decoded(f, tx)
        assert {k: got.get(k) for k in tx.truth} == tx.truth


def test_totals_never_decrease() -> None:
    f = field(mode="fixed", alarm_rate=50.0)
    for txs in by_meter(f.pregenerate(6 * 3600)).values():
        for name in ("total_m3", "total_energy_consumption_kwh", "total_volume_m3"):
            series = [tx.truth[name] for tx in txs if name in tx.truth]
            assert series == sorted(series)


def test_water_use_follows_a_daily_profile() -> None:
    f = field(mode="fixed", meters=60, mix={"water": 1.0}, collisions=False)
    txs = f.pregenerate(86400)
    use: dict[int, float] = defaultdict(float)
    for series in by_meter(txs).values():
        for a, b in itertools.pairwise(series):
            hour = int((f.config.epoch + b.t) % 86400 // 3600)
            use[hour] += float(b.truth["total_m3"]) - float(a.truth["total_m3"])
    assert use[7] > 2 * use[3] and use[19] > 2 * use[3]


# -- alarms --------------------------------------------------------------------------------


def test_injected_leak_shows_in_the_next_telegrams_and_clears() -> None:
    f = field()
    meter = first_of_kind(f, "water")
    f.events_until(100)
    f.inject_alarm(meter, "leak")
    during = [tx for tx in f.events_until(200) if tx.meter_id == meter]
    f.clear_alarm(meter, "leak")
    after = [tx for tx in f.events_until(300) if tx.meter_id == meter]
    assert during and all(decoded(f, tx)["status"] == "LEAK" for tx in during)
    assert after and all(decoded(f, tx)["status"] == "OK" for tx in after)


def test_water_alarm_duration_grows_with_time() -> None:
    f = field(mode="fixed")
    meter = first_of_kind(f, "water")
    f.inject_alarm(meter, "burst")
    txs = [tx for tx in f.pregenerate(12 * 3600) if tx.meter_id == meter]
    durations = {decoded(f, tx)["time_bursting"] for tx in (txs[0], txs[-1])}
    assert durations == {"1-8 hours", "9-24 hours"}


@pytest.mark.parametrize(
    ("kind", "alarm", "status"),
    [
        ("heat", "leak", "V1_V2_LEAKAGE_WATER_LOSS"),
        ("pressure", "pressure_drop", "DROP"),
        ("oms_water", "tamper", "ALARM ERROR_FLAGS_10"),
    ],
)
def test_injected_alarm_reads_as_the_driver_names_it(kind: str, alarm: str, status: str) -> None:
    f = field()
    meter = first_of_kind(f, kind)
    f.inject_alarm(meter, alarm)
    tx = next(tx for tx in f.pregenerate(1000) if tx.meter_id == meter)
    assert decoded(f, tx)["status"] == status


def test_pressure_drop_lowers_the_pressure() -> None:
    f = field()
    meter = first_of_kind(f, "pressure")
    before = next(tx for tx in f.pregenerate(100) if tx.meter_id == meter)
    f.inject_alarm(meter, "pressure_drop")
    after = next(tx for tx in f.pregenerate(100) if tx.meter_id == meter)
    assert float(after.truth["pressure_bar"]) < 0.5 * float(before.truth["pressure_bar"])


def test_an_alarm_the_meter_cannot_raise_is_refused() -> None:
    f = field()
    with pytest.raises(ValueError, match="supported: burst, dry, leak, reverse"):
        f.inject_alarm(first_of_kind(f, "water"), "tamper")


def test_random_alarms_come_and_go_by_themselves() -> None:
    f = field(mode="fixed", meters=50, mix={"water": 1.0}, alarm_rate=2.0)
    statuses = [
        [tx.truth["status"] for tx in txs] for txs in by_meter(f.pregenerate(86400)).values()
    ]
    raised = [s for s in statuses if any(x != "OK" for x in s)]
    assert len(raised) >= 10
    assert any(s[-1] == "OK" for s in raised)


# -- the air -------------------------------------------------------------------------------


def test_random_loss_drops_about_that_share() -> None:
    txs = field(loss=0.3, collisions=False, mode="fixed", meters=200).pregenerate(3600)
    noise = sum(tx.reason == "noise" for tx in txs) / len(txs)
    assert 0.25 < noise < 0.35


def test_without_loss_or_collisions_only_weak_signals_are_lost() -> None:
    txs = field(collisions=False, meters=100).pregenerate(600)
    assert {tx.reason for tx in txs if tx.lost} <= {"sensitivity"}
    assert all(tx.rssi_dbm < -105 for tx in txs if tx.lost)


def test_overlapping_telegrams_collide_unless_one_captures_the_receiver() -> None:
    txs = field(mode="driveby", meters=300, mix={"water": 1.0}).pregenerate(120)
    ends = [tx.t + airtime(len(tx.frame), tx.link_mode) for tx in txs]
    collided = set()
    for i, a in enumerate(txs):
        for j in range(i + 1, len(txs)):
            if txs[j].t >= ends[i]:
                break
            b = txs[j]
            if a.rssi_dbm - b.rssi_dbm < 6:
                collided.add(i)
            if b.rssi_dbm - a.rssi_dbm < 6:
                collided.add(j)
    assert collided
    flagged = {i for i, tx in enumerate(txs) if tx.reason == "collision"}
    assert flagged == {i for i in collided if txs[i].reason in (None, "collision")}


def test_rssi_is_plausible_and_in_half_db_steps() -> None:
    txs = field(mode="fixed", meters=300).pregenerate(200)
    rssi = [tx.rssi_dbm for tx in txs]
    assert all(-120 <= r <= -20 and r * 2 == int(r * 2) for r in rssi)
    assert -100 < statistics.median(rssi) < -60


# -- ground truth and schedules --------------------------------------------------------------


def test_truth_gives_the_latest_delivered_telegram_at_or_before_a_time() -> None:
    f = field(loss=0.3)
    txs = f.pregenerate(600)
    meter = first_of_kind(f, "water")
    delivered = [tx for tx in txs if tx.meter_id == meter and not tx.lost]
    probe = delivered[5].t + 0.001
    assert f.truth.latest_before(meter, probe) is delivered[5]
    assert f.truth.latest_before(meter, delivered[0].t - 1) is None
    assert f.truth.values_before(meter, probe) == delivered[5].truth


def test_truth_never_holds_a_lost_telegram() -> None:
    f = field(loss=0.5)
    txs = f.pregenerate(300)
    for tx in txs:
        latest = f.truth.latest_before(tx.meter_id, tx.t)
        assert latest is None or not latest.lost


def test_a_saved_schedule_reads_back_identical(tmp_path: Path) -> None:
    f = field(alarm_rate=10.0)
    txs = f.pregenerate(600)
    path = tmp_path / "hour.sched"
    assert save_schedule(path, f.meters, txs) == len(txs)
    schedule = load_schedule(path)
    assert schedule.keys() == f.keys()
    assert list(schedule) == txs


# -- the runner into an emulated iM871A, read by the real driver -----------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_runner_delivers_what_the_field_sent_to_a_real_driver() -> None:
    f = field(meters=20, mix={"water": 0.5, "heat": 0.5}, collisions=False)
    expected = [
        tx
        for tx in field(meters=20, mix={"water": 0.5, "heat": 0.5}, collisions=False).pregenerate(
            60
        )
        if not tx.lost
    ]
    emulator = Im871aEmulator()
    emulator.start()
    clock = FakeClock()
    runner = FieldRunner(f, emulator, clock, speed=10.0, truth=f.truth)

    async def main() -> list[tuple[bytes, float | None]]:
        driver = Im871aDriver(emulator.path, LinkMode.C1, backoff=Backoff(0.05, 0.5))
        await driver.start(start_timeout=5)
        try:
            runner.start()
            clock.now += 6.0  # 60 simulated seconds
            got = [await driver.next_frame(5) for _ in expected]
            return [(g.raw, g.rssi_dbm) for g in got]
        finally:
            runner.stop()
            await driver.stop()

    try:
        got = asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        emulator.close()
    assert got == [(tx.frame, rssi_dbm(rssi_raw(tx.rssi_dbm))) for tx in expected]
    assert runner.delivered == len(expected)


def test_runner_does_not_deliver_telegrams_the_module_cannot_hear() -> None:
    f = field(meters=10, mode="fixed", mix={"water": 0.5, "oms_water": 0.5}, collisions=False)
    emulator = Im871aEmulator()
    emulator.start()
    emulator.mode = LinkMode.C1  # as a host that configured C1 leaves it
    clock = FakeClock()
    runner = FieldRunner(f, emulator, clock, speed=1.0, truth=f.truth)
    try:
        runner.start()
        runner.stop()  # the thread is not needed: step() by hand at a set time
        clock.now += 950
        runner.step()
    finally:
        emulator.close()
    oms = first_of_kind(f, "oms_water")
    assert runner.not_heard == 5 and runner.delivered > 0
    assert f.truth.latest_before(oms, 950) is None


def test_a_replayed_schedule_is_served_in_time_order() -> None:
    txs = field().pregenerate(120)
    source = ScheduleSource(txs)
    got = source.events_until(60) + source.events_until(120)
    assert got == txs and source.next_time() is None


def test_runner_stops_promptly_from_another_thread() -> None:
    emulator = Im871aEmulator()
    emulator.start()
    runner = FieldRunner(field(), emulator, time.monotonic, speed=60.0)
    runner.start()
    deadline = time.monotonic() + 5
    while runner.delivered == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    stopper = threading.Thread(target=runner.stop)
    started = time.monotonic()
    stopper.start()
    stopper.join(5)
    emulator.close()
    assert time.monotonic() - started < 1.0 and runner.delivered > 0
