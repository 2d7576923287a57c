"""Status lookups: bit fields, duration codes, the TPL status byte and how status is joined."""

from __future__ import annotations

import pytest

from protocols.meters.lookup import (
    BitLookup,
    IndexLookup,
    durations,
    join_status,
    tpl_status_flags,
)

WATER = BitLookup("ERROR_FLAGS", {0x01: "DRY", 0x08: "BURST", 0x04: "LEAK"}, 0xFFFF, "OK")


def test_bit_lookup_names_every_set_bit() -> None:
    assert WATER(0x0D) == "DRY LEAK BURST"


def test_bit_lookup_reports_unnamed_bits_together_as_lookup_name_and_hex() -> None:
    assert WATER(0x0801) == "DRY ERROR_FLAGS_800"
    assert WATER(0x0A00) == "ERROR_FLAGS_A00"


def test_bit_lookup_ignores_bits_outside_its_mask() -> None:
    assert BitLookup("ERROR_FLAGS", {0x01: "DRY"}, 0x000F, "OK")(0x0070) == "OK"


def test_bit_lookup_without_set_bits_gives_its_default_message() -> None:
    assert WATER(0) == "OK"
    assert BitLookup("ERROR_FLAGS", {0x01: "DRY"})(0) == ""


def test_bit_lookup_refuses_a_name_for_several_bits() -> None:
    with pytest.raises(ValueError, match="single bit"):
        BitLookup("X", {0x03: "TWO_BITS"})


def test_duration_lookup_names_the_masked_code() -> None:
    time_dry = durations("DRY", 0x0070)
    assert time_dry(0x0071) == "22-31 days"
    assert time_dry(0x0010) == "1-8 hours"


def test_duration_lookup_is_empty_when_the_alarm_never_lasted() -> None:
    assert durations("BURSTING", 0xE000)(0x1FFF) == ""


def test_durations_need_three_adjacent_bits() -> None:
    with pytest.raises(ValueError, match="three adjacent bits"):
        durations("DRY", 0x0030)


def test_index_lookup_reports_an_unnamed_value_as_lookup_name_and_hex() -> None:
    assert IndexLookup("MODE", {0x00: "normal"}, 0x30)(0x20) == "MODE_20"


def test_index_lookup_refuses_values_outside_its_mask() -> None:
    with pytest.raises(ValueError, match="outside mask"):
        IndexLookup("MODE", {0x40: "x"}, 0x30)


def test_tpl_status_zero_or_absent_has_no_flags() -> None:
    assert tpl_status_flags(None) == []
    assert tpl_status_flags(0) == []


@pytest.mark.parametrize(("status", "flag"), [(0x01, "BUSY"), (0x02, "ERROR"), (0x03, "ALARM")])
def test_tpl_status_low_two_bits_are_one_application_status(status: int, flag: str) -> None:
    assert tpl_status_flags(status) == [flag]


def test_tpl_status_names_power_low_permanent_and_temporary_error() -> None:
    assert sorted(tpl_status_flags(0x1C)) == ["PERMANENT_ERROR", "POWER_LOW", "TEMPORARY_ERROR"]


def test_tpl_status_reports_manufacturer_bits_as_hex() -> None:
    assert tpl_status_flags(0xA0) == ["TPL_STATUS_A0"]


def test_status_is_ok_when_no_flag_is_set() -> None:
    assert join_status([]) == "OK"
    assert join_status(["OK", "", "OK"]) == "OK"


def test_status_flags_are_sorted_without_duplicates() -> None:
    assert join_status(["LEAK DRY", "OK", "DRY", "BURST"]) == "BURST DRY LEAK"
