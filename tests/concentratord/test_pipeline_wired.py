"""Wired answers through the pipeline (``Pipeline.process_wired``): the same tenants,
readings and alarms as radio frames, with ``link_mode`` ``"mbus"``, no RSSI, no repeat
filter, and the poll interval as the meter's interval."""

from __future__ import annotations

import random

import pytest

from bus.answer import WiredAnswer, merged_telegram
from concentratord.pipeline import Pipeline, Tenant
from protocols.errors import DecodeError
from protocols.mbus.frames import LongFrame, parse_long
from protocols.wmbus.decoder import TelegramDecoder
from radio.sim.mbus_bus import EmulatedSlave

VOLUME = b"\x04\x13"
FLOW_TEMPERATURE = b"\x02\x5b"


def slave(**kw: object) -> EmulatedSlave:
    kw.setdefault("telegrams", [[(VOLUME, 12.5)]])
    return EmulatedSlave("31000001", manufacturer="KAM", primary=1, **kw)  # type: ignore[arg-type]


def frames_of(s: EmulatedSlave) -> tuple[LongFrame, ...]:
    return tuple(parse_long(s.long_frame(i, 1)) for i in range(len(s.telegrams)))


def answer(s: EmulatedSlave, t: float = 1000.0, interval_s: float | None = 900.0) -> WiredAnswer:
    return WiredAnswer(frames_of(s), t, "/dev/ttyUSB1", "1", interval_s)


def pipeline(**tenant: object) -> Pipeline:
    return Pipeline([Tenant("utility", {}, **tenant)])  # type: ignore[arg-type]


def test_an_answer_becomes_a_reading_over_mbus_without_signal_level() -> None:
    outcome = pipeline().process_wired(answer(slave()))
    reading = outcome.reading
    assert reading is not None
    assert (reading.meter_id, reading.fields["manufacturer"]) == ("31000001", "KAM")
    assert reading.fields["total_m3"] == 12.5
    assert (reading.link_mode, reading.rssi_dbm, reading.timestamp) == ("mbus", None, 1000.0)


def test_a_multi_telegram_answer_is_one_reading_with_every_record() -> None:
    two = slave(telegrams=[[(VOLUME, 12.5)], [(FLOW_TEMPERATURE, 55)]])
    reading = pipeline().process_wired(answer(two)).reading
    assert reading is not None
    assert (reading.fields["total_m3"], reading.fields["flow_temperature_c"]) == (12.5, 55)


def test_an_answer_whose_telegrams_come_from_two_meters_is_refused() -> None:
    first = frames_of(slave(telegrams=[[(VOLUME, 1.0)], [(VOLUME, 2.0)]]))[0]
    other = frames_of(EmulatedSlave("31000009", manufacturer="KAM", primary=1))[0]
    p = pipeline()
    outcome = p.process_wired(WiredAnswer((first, other), 1000.0, "/dev/ttyUSB1", "1"))
    assert outcome.reading is None and "KAM:31000009" in (outcome.error or "")
    assert p.counters.decode_errors == 1


def test_the_same_answer_polled_twice_is_two_readings_not_a_repeat() -> None:
    p = pipeline()
    s = slave()
    p.process_wired(answer(s, t=1000.0))
    assert p.process_wired(answer(s, t=1001.0)).reading is not None
    assert (p.counters.readings, p.counters.repeats) == (2, 0)


def test_a_status_bit_raises_an_alarm() -> None:
    p = pipeline()
    p.process_wired(answer(slave(), t=1000.0))
    alarm = p.process_wired(answer(slave(status=0x04), t=1900.0)).alarm
    assert alarm is not None and alarm.raised == frozenset({"POWER_LOW"})


def test_the_poll_interval_is_the_meters_interval() -> None:
    p = pipeline()
    outcome = p.process_wired(answer(slave(), interval_s=900.0))
    assert outcome.meter is not None and outcome.meter.reception.interval_s == 900.0
    # Polls that ran late do not make an estimate of their own.
    for t in (1900.0, 1950.0, 2000.0, 3000.0):
        p.process_wired(answer(slave(), t=t, interval_s=900.0))
    assert outcome.meter.reception.interval_s == 900.0


def test_a_meter_of_no_tenant_is_counted_not_decoded() -> None:
    p = pipeline(meters=lambda _id, _m: False)
    outcome = p.process_wired(answer(slave()))
    assert outcome.reading is None and p.counters.unassigned == 1


def test_a_raw_tenant_gets_the_frames_as_on_the_line() -> None:
    s = slave()
    reading = pipeline(raw=True).process_wired(answer(s)).reading
    assert reading is not None
    assert reading.fields["telegram"] == s.long_frame(0, 1).hex().upper()


def test_a_fixed_data_answer_is_a_reading_of_a_meter_without_manufacturer() -> None:
    # CI 0x73: id 12345678 (BCD, LSB first), access 10, status 0, medium water (7) with
    # counter 1 in litres (0x29), counter 2 "same but historic" (0x3E), BCD counters.
    data = bytes.fromhex("785634120A00E97E0100000035010000")
    fixed = LongFrame(C=0x08, A=5, CI=0x73, data=data)
    p = pipeline()
    outcome = p.process_wired(WiredAnswer((fixed,), 1000.0, "/dev/ttyUSB1", "5", 900.0))
    reading = outcome.reading
    assert reading is not None, outcome.error
    assert (reading.meter_id, reading.fields["manufacturer"]) == ("12345678", "")
    assert reading.fields["total_m3"] == 0.001 and reading.fields["media"] == "water"
    assert outcome.meter is not None and outcome.meter.key == ":12345678"


def test_an_answer_with_no_meters_data_is_refused_by_name() -> None:
    reset = LongFrame(C=0x08, A=5, CI=0x50, data=b"")
    p = pipeline()
    outcome = p.process_wired(WiredAnswer((reset,), 1000.0, "/dev/ttyUSB1", "5"))
    assert "CI 0x50 carries no meter's data" in (outcome.error or "")
    assert p.counters.link_errors == 1


def test_mangled_answers_are_errors_never_exceptions() -> None:
    rng = random.Random(13)
    good = slave(telegrams=[[(VOLUME, 12.5), (FLOW_TEMPERATURE, 55)]]).long_frame(0, 1)
    p = pipeline()
    for n in range(3000):
        data = bytearray(parse_long(good).data)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        cut = rng.randint(0, len(data)) if n % 3 == 0 else len(data)
        frame = LongFrame(
            C=0x08, A=1, CI=rng.choice((0x72, 0x72, 0x76, 0x73)), data=bytes(data[:cut])
        )
        outcome = p.process_wired(WiredAnswer((frame,), 1000.0 + n, "/dev/ttyUSB1", "1"))
        assert outcome.reading is not None or outcome.error


def test_manufacturer_bytes_after_more_records_follow_are_kept() -> None:
    s = slave(telegrams=[[(VOLUME, 12.5)], [(FLOW_TEMPERATURE, 55)]])
    first, second = frames_of(s)
    # The first telegram's 0x1F marker with two manufacturer bytes after it.
    first = LongFrame(C=first.C, A=first.A, CI=first.CI, data=first.data + b"\xab\xcd")
    telegram = merged_telegram((first, second), TelegramDecoder())
    kept = [r for r in telegram.records if r.header == b"\x1f"]
    assert [r.data for r in kept] == [b"\xab\xcd"]
    assert [r.value for r in telegram.records if r.header != b"\x1f"] == [12.5, 55]


def test_an_answer_whose_first_telegram_announces_no_more_is_refused() -> None:
    alone = frames_of(slave())[0]  # one complete telegram, no 0x1F at its end
    with pytest.raises(DecodeError, match=r"telegram 1 of the answer does not announce more"):
        merged_telegram((alone, alone), TelegramDecoder())
