"""concentratord.visibility: the rows of the meters heard, scoped by tenant, silent meters,
and the statistics blob."""

from __future__ import annotations

import pytest

from concentratord.pipeline import MeterState, Outcome
from concentratord.reception import Reception
from concentratord.visibility import (
    AmbiguousMeterError,
    Visibility,
    dump_statistics,
    is_back,
    load_statistics,
    tap_event,
)
from radio.frame import LinkMode, RadioFrame

DAY = 86_400.0
T0 = 1_767_225_600.0
ROW_KEYS = {
    "id",
    "manufacturer",
    "media",
    "tenant",
    "telegrams",
    "first_heard",
    "last_heard",
    "rssi_dbm",
    "link_mode",
    "decode",
    "interval_s",
    "reception_rate",
    "quality",
}


def meter(key: str, tenant: str | None, rssi: float = -80.0, count: int = 10) -> MeterState:
    manufacturer, _, meter_id = key.partition(":")
    r = Reception(DAY)
    for n in range(count):
        r.heard(T0 + 96.0 * n, rssi, "c1")
    r.decode = "ok"
    return MeterState(meter_id, manufacturer, tenant, 0x07, r)


@pytest.fixture
def view() -> Visibility:
    meters = {
        m.key: m
        for m in (
            meter("KAM:76348799", "water", -70.0),
            meter("KAM:11111111", "heat", -90.0),
            meter("DME:11111111", None, -100.0),
        )
    }
    return Visibility(meters, clock=lambda: T0 + 96.0 * 9 + 10, good_rate=0.8, silent_after=12)


def test_a_row_has_the_contract_fields(view: Visibility) -> None:
    row = view.row("76348799", None)
    assert row is not None and set(row) == ROW_KEYS
    assert row["media"] == "water"
    assert row["rssi_dbm"] == {"last": -70.0, "min": -70.0, "mean": -70.0, "max": -70.0}
    assert (row["reception_rate"], row["quality"], row["interval_s"]) == (1.0, "good", 96.0)
    assert row["first_heard"] == "2026-01-01T00:00:00Z"


def test_the_operator_sees_every_meter_strongest_first(view: Visibility) -> None:
    rows = view.rows(None)
    assert [(r["manufacturer"], r["id"]) for r in rows] == [
        ("KAM", "76348799"),
        ("KAM", "11111111"),
        ("DME", "11111111"),
    ]
    assert view.others(None) == 0


def test_a_tenant_sees_its_meters_and_a_count_of_the_others(view: Visibility) -> None:
    assert [r["id"] for r in view.rows("water")] == ["76348799"]
    assert view.others("water") == 2


def test_a_tenant_does_not_find_another_tenants_meter(view: Visibility) -> None:
    assert view.row("KAM:11111111", "water") is None
    assert view.row("KAM:11111111", "heat") is not None


def test_an_id_of_two_manufacturers_must_be_named_with_its_manufacturer(view: Visibility) -> None:
    with pytest.raises(AmbiguousMeterError, match="DME, KAM"):
        view.row("11111111", None)
    found = view.row("dme:11111111", None)
    assert found is not None and found["manufacturer"] == "DME"


def test_rows_can_be_narrowed_to_named_meters(view: Visibility) -> None:
    assert [r["manufacturer"] for r in view.rows(None, ["11111111"])] == ["KAM", "DME"]


def test_an_unheard_meter_has_no_row(view: Visibility) -> None:
    assert view.row("99999999", None) is None


def test_only_tenant_meters_go_silent_and_only_once() -> None:
    meters = {m.key: m for m in (meter("KAM:1", "water"), meter("KAM:2", None))}
    clock = [T0 + 96.0 * 30]
    view = Visibility(meters, clock=lambda: clock[0], good_rate=0.8, silent_after=12)
    assert [m.key for m in view.newly_silent()] == ["KAM:1"]
    assert view.newly_silent() == []
    assert is_back(meters["KAM:1"]) and not is_back(meters["KAM:1"])


def test_the_summary_counts_a_tenants_meters_by_quality(view: Visibility) -> None:
    assert view.summary("water") == {"meters": 1, "good": 1, "poor": 0, "unknown": 0, "silent": 0}


def test_statistics_blob_round_trips() -> None:
    states = [meter("KAM:76348799", "water"), meter("DME:11111111", None, count=2)]
    back = load_statistics(dump_statistics(states), DAY)
    assert [(k, d) for k, d, _ in back] == [("KAM:76348799", 0x07), ("DME:11111111", 0x07)]
    assert back[0][2].dump() == states[0].reception.dump()


@pytest.mark.parametrize("blob", [b"", b"\x09abc", b"\x01not zstd"])
def test_a_blob_that_is_not_statistics_is_refused(blob: bytes) -> None:
    with pytest.raises(ValueError, match="reception statistics"):
        load_statistics(blob, DAY)


def test_a_tap_event_names_the_meter_and_the_outcome() -> None:
    m = meter("KAM:76348799", "water")
    m.reception.decode = "wrong_key"
    frame = RadioFrame(b"\x00" * 12, -71.5, T0, LinkMode.C1)
    event = tap_event(frame, Outcome(error="wrong key", meter=m))
    assert event == {
        "time": "2026-01-01T00:00:00Z",
        "id": "76348799",
        "manufacturer": "KAM",
        "tenant": "water",
        "rssi_dbm": -71.5,
        "link_mode": "c1",
        "decode": "wrong_key",
        "fields": None,
        "error": "wrong key",
    }
