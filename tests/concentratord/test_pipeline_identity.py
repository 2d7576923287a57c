"""Two meters with one id and different manufacturers (a neighbour's meter, heard too) are
two meters: two states, two keys, two readings, their alarms apart."""

from __future__ import annotations

from concentratord.pipeline import Pipeline, Tenant
from protocols.telegram import MeterAddress
from protocols.wmbus.build import EllSpec, TelegramSpec, Tpl, build_telegram
from protocols.wmbus.link import FrameFormat
from radio.frame import LinkMode, RadioFrame

KAM = MeterAddress("KAM", "12345678", 0x1B, 0x16)
ABC = MeterAddress("ABC", "12345678", 0x1B, 0x16)
K1, K2 = bytes(range(16)), bytes(range(16, 32))


def frame(
    meter: MeterAddress, key: bytes, litres: int, info: int = 0, t: float = 1e3
) -> RadioFrame:
    records = (
        bytes.fromhex("02FF20")
        + info.to_bytes(2, "little")
        + bytes.fromhex("0413")
        + litres.to_bytes(4, "little")
    )
    spec = TelegramSpec(meter, records, tpl=Tpl.NONE, ell=EllSpec(access_number=1))
    raw = build_telegram(spec, key, FrameFormat.NONE)
    return RadioFrame(raw, -70.0, t, LinkMode.C1, FrameFormat.NONE, False)


def pipeline() -> Pipeline:
    return Pipeline([Tenant("utility", {"KAM:12345678": K1, "ABC:12345678": K2})])


def test_two_manufacturers_meters_with_one_id_have_two_states() -> None:
    p = pipeline()
    p.process(frame(KAM, K1, 1000))
    p.process(frame(ABC, K2, 2000))
    assert sorted(p.meters) == ["ABC:12345678", "KAM:12345678"]


def test_each_is_decoded_with_its_own_key() -> None:
    p = pipeline()
    kam = p.process(frame(KAM, K1, 1000)).reading
    abc = p.process(frame(ABC, K2, 2000)).reading
    assert kam is not None and abc is not None
    assert (kam.fields["manufacturer"], kam.fields["total_m3"]) == ("KAM", 1.0)
    assert (abc.fields["manufacturer"], abc.fields["total_m3"]) == ("ABC", 2.0)


def test_one_meters_alarm_is_not_the_others() -> None:
    p = pipeline()
    p.process(frame(KAM, K1, 1000, t=1e3))
    p.process(frame(ABC, K2, 2000, t=1e3 + 1))
    p.process(frame(KAM, K1, 1001, info=0x04, t=1e3 + 2))  # a leak on the Kamstrup
    outcome = p.process(frame(ABC, K2, 2001, t=1e3 + 3))
    assert outcome.alarm is None
    assert p.meters["KAM:12345678"].flags and not p.meters["ABC:12345678"].flags


def test_both_are_in_a_snapshot_of_their_id() -> None:
    p = pipeline()
    p.process(frame(KAM, K1, 1000))
    p.process(frame(ABC, K2, 2000))
    rows = p.snapshot(2e3, ["12345678"])
    assert sorted(r.fields["manufacturer"] for r in rows) == ["ABC", "KAM"]


def test_flags_stored_by_identity_are_restored_to_that_meter_only() -> None:
    p = pipeline()
    p.restore_flags({"KAM:12345678": frozenset({"LEAK"})})
    p.process(frame(KAM, K1, 1000, info=0x04))
    abc = p.process(frame(ABC, K2, 2000))
    assert p.meters["KAM:12345678"].flags == frozenset({"LEAK"})
    assert abc.alarm is None


def test_tenants_may_split_one_id_by_manufacturer() -> None:
    water = Tenant("water", {"12345678": K1}, meters=lambda _id, man: man == "KAM")
    gas = Tenant("gas", {"12345678": K2}, meters=lambda _id, man: man == "ABC")
    p = Pipeline([water, gas])
    kam, abc = p.process(frame(KAM, K1, 10)), p.process(frame(ABC, K2, 20))
    assert (p.meters[KAM.key].tenant, p.meters[ABC.key].tenant) == ("water", "gas")
    assert kam.reading is not None and kam.reading.tenant == "water"
    assert abc.reading is not None and abc.reading.tenant == "gas"
