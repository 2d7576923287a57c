"""The pipeline: repeats dropped, readings decoded per tenant, alarms on status changes,
interval snapshots of the latest reading before the boundary."""

from __future__ import annotations

from concentratord.pipeline import Pipeline, RepeatFilter, Tenant
from protocols.crc import crc16_en13757
from protocols.telegram import MeterAddress
from protocols.wmbus.build import EllSpec, TelegramSpec, Tpl, build_telegram
from protocols.wmbus.link import FrameFormat, add_crcs, strip_crcs
from radio.frame import LinkMode, RadioFrame

KEY = bytes(range(16))
WATER = MeterAddress("KAM", "76348799", 0x1B, 0x16)


def frame(
    litres: int,
    info: int = 0,
    t: float = 1000.0,
    acc: int = 1,
    meter: MeterAddress = WATER,
    fmt: FrameFormat = FrameFormat.NONE,
) -> RadioFrame:
    records = (
        bytes.fromhex("02FF20")
        + info.to_bytes(2, "little")
        + bytes.fromhex("0413")
        + litres.to_bytes(4, "little")
    )
    raw = build_telegram(
        TelegramSpec(meter, records, tpl=Tpl.NONE, ell=EllSpec(access_number=acc)), KEY, fmt
    )
    return RadioFrame(raw, -70.0, t, LinkMode.C1, fmt, fmt is not FrameFormat.NONE)


def pipeline(**tenant: object) -> Pipeline:
    return Pipeline([Tenant("utility", {WATER.id: KEY}, **tenant)])  # type: ignore[arg-type]


def test_a_telegram_becomes_a_reading_with_decoded_fields() -> None:
    outcome = pipeline().process(frame(1234))
    assert outcome.reading is not None
    assert outcome.reading.fields["total_m3"] == 1.234
    assert outcome.reading.tenant == "utility"


def test_exact_repeat_within_the_window_is_dropped() -> None:
    p = pipeline()
    p.process(frame(1234, t=1000))
    assert p.process(frame(1234, t=1005)).repeat
    assert p.counters.repeats == 1


def test_same_telegram_with_and_without_crcs_is_a_repeat() -> None:
    p = pipeline()
    p.process(frame(1234, t=1000))
    assert p.process(frame(1234, t=1001, fmt=FrameFormat.A)).repeat


def test_repeat_after_the_window_is_a_new_reading() -> None:
    p = pipeline()
    p.process(frame(1234, t=1000))
    assert p.process(frame(1234, t=2000)).reading is not None


def test_repeat_filter_forgets_beyond_its_bound() -> None:
    f = RepeatFilter(window_s=60, max_entries=2)
    for n in range(3):
        f.is_repeat(bytes([n]), 0.0)
    assert not f.is_repeat(b"\x00", 1.0)


def test_first_reading_with_a_flag_raises_an_alarm() -> None:
    alarm = pipeline().process(frame(1, info=0x04)).alarm
    assert alarm is not None and alarm.raised == {"LEAK"} and not alarm.cleared


def test_a_meter_that_keeps_sending_leak_raises_one_alarm() -> None:
    p = pipeline()
    alarms = [p.process(frame(1, info=0x04, t=1000 + 16 * n, acc=n)).alarm for n in range(5)]
    assert sum(a is not None for a in alarms) == 1


def test_a_flag_that_clears_gives_a_cleared_alarm() -> None:
    p = pipeline()
    p.process(frame(1, info=0x04, t=1000, acc=1))
    alarm = p.process(frame(1, info=0x00, t=1016, acc=2)).alarm
    assert alarm is not None and alarm.cleared == {"LEAK"} and not alarm.raised


def test_restored_flags_suppress_a_second_alarm_after_restart() -> None:
    p = pipeline()
    p.restore_flags({WATER.id: frozenset({"LEAK"})})
    assert p.process(frame(1, info=0x04)).alarm is None


def test_restored_flags_of_a_meter_not_yet_heard_do_not_list_it_as_heard() -> None:
    p = pipeline()
    p.restore_flags({WATER.id: frozenset({"LEAK"})})
    assert WATER.id not in p.meters
    p.process(frame(1, info=0x04))
    assert p.meters[WATER.key].manufacturer == "KAM"


def test_a_flag_cleared_while_stopped_gives_a_cleared_alarm_after_restart() -> None:
    p = pipeline()
    p.restore_flags({WATER.id: frozenset({"LEAK"})})
    alarm = p.process(frame(1, info=0x00)).alarm
    assert alarm is not None and alarm.cleared == {"LEAK"} and not alarm.raised
    assert alarm.previous_status == "LEAK"


def test_an_alarm_names_the_status_before_it() -> None:
    p = pipeline()
    first = p.process(frame(1, info=0x00, t=1000, acc=1)).alarm
    alarm = p.process(frame(1, info=0x04, t=1016, acc=2)).alarm
    assert first is None and alarm is not None
    assert (alarm.previous_status, alarm.status) == ("OK", "LEAK")


def test_wrong_key_is_counted_per_meter_and_produces_no_reading() -> None:
    p = Pipeline([Tenant("utility", {WATER.id: bytes(16)})])
    outcome = p.process(frame(1))
    assert outcome.reading is None and "wrong key" in (outcome.error or "")
    assert p.meters[WATER.key].decode_errors == 1
    assert p.counters.wrong_key == 1


def test_meter_of_no_tenant_is_heard_but_not_decoded() -> None:
    p = Pipeline([Tenant("utility", {}, meters=lambda m, _man: m.startswith("1"))])
    outcome = p.process(frame(1))
    assert outcome.reading is None
    assert p.counters.unassigned == 1
    assert p.meters[WATER.key].reception.telegrams == 1
    assert p.meters[WATER.key].reception.decode == "no_key"


def test_raw_tenant_forwards_the_encrypted_telegram_without_a_key() -> None:
    p = Pipeline([Tenant("utility", {}, raw=True)])
    reading = p.process(frame(1)).reading
    assert reading is not None and "telegram" in reading.fields and "total_m3" not in reading.fields


def test_tenants_see_only_their_meters() -> None:
    other = MeterAddress("KAM", "11111111", 0x1B, 0x16)
    p = Pipeline(
        [
            Tenant("a", {WATER.id: KEY}, meters=lambda m, _man: m == WATER.id),
            Tenant("b", {other.id: KEY}, meters=lambda m, _man: m == other.id),
        ]
    )
    ra = p.process(frame(1, meter=WATER)).reading
    rb = p.process(frame(2, meter=other)).reading
    assert ra is not None and rb is not None
    assert (ra.tenant, rb.tenant) == ("a", "b")


def test_snapshot_takes_the_latest_reading_before_the_interval_end() -> None:
    p = pipeline()
    for n, t in enumerate((3500.0, 3590.0, 3605.0)):
        p.process(frame(100 + n, t=t, acc=n))
    (value,) = p.snapshot(3600.0)
    assert value.fields["total_m3"] == 0.101


def test_snapshot_skips_meters_not_heard_before_the_interval_end() -> None:
    p = pipeline()
    p.process(frame(100, t=3605.0))
    assert p.snapshot(3600.0) == []


def test_rssi_statistics_are_kept_for_the_visibility_check() -> None:
    p = pipeline()
    p.process(frame(1, t=1000, acc=1))
    p.process(RadioFrame(frame(2, acc=2).raw, -90.0, 1016, LinkMode.C1))
    r = p.meters[WATER.key].reception
    assert (r.rssi_min, r.rssi_max, r.rssi_mean) == (-90.0, -70.0, -80.0)


def test_meters_beyond_the_limit_are_counted_and_dropped() -> None:
    other = MeterAddress("KAM", "11111111", 0x1B, 0x16)
    p = Pipeline([Tenant("utility", {WATER.id: KEY, other.id: KEY})], max_meters=1)
    p.process(frame(1, meter=WATER))
    outcome = p.process(frame(2, meter=other))
    assert outcome.reading is None and outcome.error == "meter limit reached"
    assert p.counters.over_meter_limit == 1
    assert other.id not in p.meters


def test_wireless_frame_with_l_0x68_and_crcs_is_not_taken_for_a_wired_frame() -> None:
    records = bytes.fromhex("0413") + (4321).to_bytes(4, "little")
    records += b"\x2f" * (0x68 - 10 - len(records))  # L = 0x68, like a wired start byte
    raw = build_telegram(TelegramSpec(WATER, records, tpl=Tpl.NONE), None, FrameFormat.A)
    assert raw[0] == 0x68
    outcome = Pipeline([Tenant("utility", {})]).process(
        RadioFrame(raw, -70.0, 1000.0, LinkMode.C1, FrameFormat.A, True)
    )
    assert outcome.reading is not None and outcome.reading.fields["total_m3"] == 4.321


def crc_free_frame_with_a_format_b_tail(meter: MeterAddress) -> bytes:
    """A frame as the iM871A delivers it (no CRCs) whose last two bytes, the end of its
    manufacturer data, happen to be the format-B CRC of the rest (1 frame in 65,536)."""
    records = bytes.fromhex("0413") + (4321).to_bytes(4, "little") + bytes.fromhex("0F0000")
    frame = bytearray(build_telegram(TelegramSpec(meter, records, tpl=Tpl.NONE)))
    frame[-2:] = crc16_en13757(frame[:-2]).to_bytes(2, "big")
    assert strip_crcs(bytes(frame))[1] is FrameFormat.B  # what guessing would make of it
    return bytes(frame)


def test_a_crc_free_frame_whose_tail_looks_like_a_crc_keeps_all_its_bytes() -> None:
    meter = MeterAddress("KAM", "12121212", 0x1B, 0x16)
    raw = crc_free_frame_with_a_format_b_tail(meter)
    p = Pipeline([Tenant("utility", {}, raw=True)])
    outcome = p.process(RadioFrame(raw, -70.0, 1000.0, LinkMode.C1, FrameFormat.NONE, False))
    assert outcome.reading is not None
    assert outcome.reading.fields["telegram"] == raw.hex().upper()


def test_a_crc_free_frame_whose_tail_looks_like_a_crc_decodes_whole() -> None:
    meter = MeterAddress("KAM", "12121212", 0x1B, 0x16)
    raw = crc_free_frame_with_a_format_b_tail(meter)
    outcome = Pipeline([Tenant("utility", {})]).process(
        RadioFrame(raw, -70.0, 1000.0, LinkMode.C1, FrameFormat.NONE, False)
    )
    assert outcome.reading is not None and outcome.reading.fields["total_m3"] == 4.321


def test_a_frame_from_a_module_that_cannot_say_has_its_crcs_detected() -> None:
    raw = add_crcs(frame(1234).raw, FrameFormat.A)
    outcome = pipeline().process(RadioFrame(raw, -70.0, 1000.0, LinkMode.C1, crc_present=None))
    assert outcome.reading is not None and outcome.reading.fields["total_m3"] == 1.234


def test_a_frame_declared_format_b_with_a_bad_crc_is_a_link_error() -> None:
    wire = bytearray(frame(1234, fmt=FrameFormat.B).raw)
    wire[12] ^= 0x01
    p = pipeline()
    outcome = p.process(RadioFrame(bytes(wire), -70.0, 1000.0, LinkMode.C1, FrameFormat.B, True))
    assert outcome.reading is None and outcome.error is not None
    assert outcome.error.startswith("link layer:") and p.counters.link_errors == 1


def test_the_meter_is_identified_by_its_link_address() -> None:
    p = pipeline()
    p.process(frame(1234))
    state = p.meters[WATER.key]
    assert (state.meter_id, state.manufacturer) == (WATER.id, WATER.manufacturer)


def test_each_tenant_counts_only_its_own_meters() -> None:
    other = MeterAddress("KAM", "22222222", 0x1B, 0x16)
    p = Pipeline(
        [
            Tenant("a", {WATER.id: KEY}, meters=lambda m, _man: m == WATER.id),
            Tenant("b", {}, meters=lambda m, _man: m == other.id),
        ]
    )
    p.process(frame(1, meter=WATER))
    p.process(frame(2, meter=other))  # no key: an error of tenant b
    a, b = p.tenant_counters["a"], p.tenant_counters["b"]
    assert (a.frames, a.readings, a.no_key) == (1, 1, 0)
    assert (b.frames, b.readings, b.no_key) == (1, 0, 1)
    assert p.counters.frames == 2
