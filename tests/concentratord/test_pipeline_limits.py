"""The meter limits in the pipeline (issue 11): ``limits.max_meters`` caps the tenant
meters collected whatever the patterns take; ``limits.visible_meters`` bounds the table,
making room by forgetting the least recently heard meter of no tenant, never a tenant's."""

from __future__ import annotations

from concentratord.pipeline import Pipeline, Tenant
from protocols.telegram import MeterAddress
from tests.concentratord.test_pipeline import KEY, frame


def meter(n: int) -> MeterAddress:
    return MeterAddress("KAM", f"{n:08d}", 0x1B, 0x16)


def mine(meter_id: str, manufacturer: str | None) -> bool:
    return meter_id.startswith("1")  # the tenant's meters: 1xxxxxxx


def pipeline(served: int, tracked: int = 100) -> Pipeline:
    keys = {meter(n).id: KEY for n in range(10_000_000, 10_000_020)}
    tenant = Tenant("utility", keys, meters=mine)
    return Pipeline([tenant], max_meters=tracked, served_meters=served)


def test_only_max_meters_tenant_meters_give_readings() -> None:
    p = pipeline(served=3)
    readings = [p.process(frame(1, meter=meter(10_000_000 + n))).reading for n in range(20)]
    assert sum(r is not None for r in readings) == 3
    assert p.counters.over_meter_limit == 17


def test_a_meter_over_the_limit_is_still_seen_but_not_collected() -> None:
    p = pipeline(served=1)
    p.process(frame(1, meter=meter(10_000_000)))
    outcome = p.process(frame(1, meter=meter(10_000_001)))
    assert outcome.over_limit and outcome.reading is None
    state = p.meters[meter(10_000_001).key]
    assert state.tenant is None and state.over_limit
    assert state.reception.decode == "over_limit"


def test_a_served_meter_keeps_its_place() -> None:
    p = pipeline(served=1)
    p.process(frame(1, t=1000, meter=meter(10_000_000)))
    p.process(frame(1, t=1001, meter=meter(10_000_001)))
    assert p.process(frame(2, t=1100, acc=2, meter=meter(10_000_000))).reading is not None


def test_status_names_the_meters_over_the_limit() -> None:
    p = pipeline(served=1)
    for n in range(3):
        p.process(frame(1, meter=meter(10_000_000 + n)))
    status = p.limit.status()
    assert status["served"] == 1 and status["over_limit"] == 2
    assert status["over_limit_meters"] == ["KAM:10000001", "KAM:10000002"]


def test_a_full_table_forgets_the_least_recently_heard_neighbour() -> None:
    p = pipeline(served=5, tracked=2)
    p.process(frame(1, t=1000, meter=meter(20_000_000)))  # neighbours: no tenant's
    p.process(frame(1, t=1001, meter=meter(20_000_001)))
    p.process(frame(2, t=1002, acc=2, meter=meter(20_000_000)))  # heard again: newer
    outcome = p.process(frame(1, t=1003, meter=meter(10_000_000)))  # a tenant's meter
    assert outcome.reading is not None
    assert meter(20_000_001).key not in p.meters  # the least recently heard went
    assert meter(20_000_000).key in p.meters
    assert p.counters.evicted == 1


def test_a_full_table_never_refuses_a_tenant_meter_for_a_neighbour() -> None:
    p = pipeline(served=3, tracked=3)
    for n in range(3):
        p.process(frame(1, t=1000 + n, meter=meter(10_000_000 + n)))
    p.process(frame(1, t=1010, meter=meter(20_000_000)))  # no room, no neighbour to forget
    assert all(meter(10_000_000 + n).key in p.meters for n in range(3))
    assert meter(20_000_000).key not in p.meters


def test_a_meter_no_longer_a_tenants_frees_its_place() -> None:
    owned = {"10000000", "10000001"}
    keys = {m: KEY for m in owned}
    p = Pipeline([Tenant("utility", keys, meters=lambda m, _man: m in owned)], served_meters=1)
    p.process(frame(1, meter=meter(10_000_000)))
    p.process(frame(1, meter=meter(10_000_001)))  # over the limit
    owned.discard("10000000")
    p.reassign()
    assert p.meters[meter(10_000_001).key].tenant == "utility"
    assert p.limit.status()["over_limit"] == 0
