"""The field-spec engine: matching records to fields and assembling a driver's output."""

from __future__ import annotations

from typing import Any

from protocols.meters.fieldspec import (
    BACKWARD_FLOW,
    Attr,
    KeyMatch,
    Match,
    Quantity,
    field,
    library,
)
from protocols.meters.lookup import BitLookup
from protocols.meters.specdriver import SpecDriver
from protocols.records.model import Function, Record, VifRange
from protocols.telegram import MeterAddress, Telegram

ADDRESS = MeterAddress("KAM", "12345678", 0x1B, 0x16)


def rec(header: str, vif: VifRange = VifRange.MANUFACTURER_SPECIFIC, **kw: Any) -> Record:
    """A record as the parser would give it; only what a test cares about is passed."""
    fields: dict[str, Any] = {
        "data": b"",
        "function": Function.INSTANTANEOUS,
        "storage": 0,
        "tariff": 0,
        "subunit": 0,
        "unit": "",
        "value": 0,
        "raw": 0,
    }
    fields.update(kw)
    return Record(header=bytes.fromhex(header), vif_range=vif, **fields)


def telegram(*records: Record, status: int | None = None) -> Telegram:
    return Telegram(
        link=ADDRESS,
        meter=ADDRESS,
        c_field=0x44,
        ci=0x7A if status is not None else 0x78,
        access_number=None,
        status=status,
        configuration=None,
        security_mode=0,
        encrypted=False,
        payload=b"",
        records=records,
    )


VOLUME = rec("0413", VifRange.VOLUME, unit="m3", value=1.5)
VOLUME_STORAGE_1 = rec("4413", VifRange.VOLUME, unit="m3", value=1.0, storage=1)
BACKWARD_ENERGY = rec("04863C", VifRange.ENERGY, unit="kwh", value=7, combinables=(BACKWARD_FLOW,))


def test_match_defaults_to_storage_tariff_and_subunit_zero() -> None:
    matcher = Match(VifRange.VOLUME)
    assert matcher.matches(VOLUME)
    assert not matcher.matches(VOLUME_STORAGE_1)
    assert not matcher.matches(rec("8410", VifRange.VOLUME, tariff=1))
    assert not matcher.matches(rec("844013", VifRange.VOLUME, subunit=1))


def test_match_takes_an_inclusive_storage_span() -> None:
    matcher = Match(VifRange.FLOW_TEMPERATURE, Function.MINIMUM, storage=(1, 2))
    for storage, expected in ((0, False), (1, True), (2, True), (3, False)):
        record = rec(
            "A1015B", VifRange.FLOW_TEMPERATURE, function=Function.MINIMUM, storage=storage
        )
        assert matcher.matches(record) is expected


def test_match_requires_the_function() -> None:
    maximum = rec("123B", VifRange.VOLUME_FLOW, function=Function.MAXIMUM)
    assert not Match(VifRange.VOLUME_FLOW).matches(maximum)
    assert Match(VifRange.VOLUME_FLOW, Function.MAXIMUM).matches(maximum)


def test_match_without_combinables_does_not_match_a_record_that_has_one() -> None:
    assert not Match(VifRange.ENERGY).matches(BACKWARD_ENERGY)


def test_match_with_backward_flow_matches_only_records_that_carry_it() -> None:
    matcher = Match(VifRange.ENERGY, combinables=frozenset({BACKWARD_FLOW}))
    assert matcher.matches(BACKWARD_ENERGY)
    assert not matcher.matches(rec("0406", VifRange.ENERGY))


def test_match_reads_a_backward_flow_vife_with_or_without_its_extension_bit() -> None:
    record = rec("04863C", VifRange.ENERGY, combinables=(0xBC,))
    assert Match(VifRange.ENERGY, combinables=frozenset({BACKWARD_FLOW})).matches(record)


def test_match_finds_manufacturer_vifes_however_the_parser_lists_them() -> None:
    matcher = Match(VifRange.OPERATING_TIME, mfct_combinables=frozenset({0x21}))
    separate = rec("04A5FF21", VifRange.OPERATING_TIME, combinables=(), manufacturer_vifes=(0x21,))
    marker = rec(
        "04A5FF21", VifRange.OPERATING_TIME, combinables=(0x7F,), manufacturer_vifes=(0x21,)
    )
    inline = rec("04A5FF21", VifRange.OPERATING_TIME, combinables=(0x7F, 0x21))
    assert matcher.matches(separate) and matcher.matches(marker) and matcher.matches(inline)
    assert not Match(VifRange.OPERATING_TIME).matches(marker)


def test_key_match_compares_the_exact_header_in_any_hex_case() -> None:
    assert KeyMatch("04ff23").matches(rec("04FF23"))
    assert not KeyMatch("04FF23").matches(rec("44FF23"))


def test_field_names_carry_the_unit_suffix_of_their_quantity() -> None:
    names = {
        Quantity.VOLUME: "x_m3",
        Quantity.ENERGY: "x_kwh",
        Quantity.TEMPERATURE: "x_c",
        Quantity.FLOW: "x_m3h",
        Quantity.POWER: "x_kw",
        Quantity.PRESSURE: "x_bar",
        Quantity.TIME: "x_h",
        Quantity.DIMENSIONLESS: "x_counter",
        Quantity.TEXT: "x",
        Quantity.DATE: "x",
    }
    for quantity, name in names.items():
        assert field("x", quantity, "0413").output_name() == name


def test_field_unit_overrides_the_quantity_suffix() -> None:
    assert field("forward_energy", Quantity.ENERGY, "04FF07", unit="m3c").output_name() == (
        "forward_energy_m3c"
    )


def test_field_name_takes_the_subunit_number() -> None:
    spec = field("total_volume_subunit{subunit}", Quantity.VOLUME, Match(VifRange.VOLUME))
    assert spec.output_name(2) == "total_volume_subunit2_m3"


def test_library_names_standard_fields_by_their_printed_name() -> None:
    total, target, target_date = library("total_m3", "target_m3", "target_date")
    assert total.matches(VOLUME) and not total.matches(VOLUME_STORAGE_1)
    assert target.matches(VOLUME_STORAGE_1)
    assert target_date.matches(rec("426C", VifRange.DATE, storage=1))


STATUS = field(
    "status",
    Quantity.TEXT,
    "04FF23",
    lookup=BitLookup("ERROR_FLAGS", {0x01: "DRY"}, default="OK"),
    attrs=Attr.STATUS | Attr.INCLUDE_TPL_STATUS,
)
STATUS16 = field(
    "status16",
    Quantity.TEXT,
    "02FF20",
    lookup=BitLookup("ERROR_FLAGS", {0x08: "BURST"}, 0x0F, "OK"),
    attrs=Attr.INJECT_INTO_STATUS | Attr.HIDE,
)
DRIVER = SpecDriver(
    "test",
    [("KAM", 0x1B, 0x16)],
    [
        STATUS,
        STATUS16,
        *library("total_m3", "target_date"),
        field("va", Quantity.DIMENSIONLESS, "04EEFF07", raw=True),
        field("energy", Quantity.ENERGY, Match(VifRange.ENERGY)),
    ],
    ["02FF200413"],
)


def test_driver_prints_ok_status_even_without_status_records() -> None:
    assert DRIVER.fields(telegram(VOLUME)) == {"total_m3": 1.5, "status": "OK"}


def test_driver_merges_status_injected_and_tpl_flags_into_status() -> None:
    fields = DRIVER.fields(telegram(rec("04FF23", raw=0x01), rec("02FF20", raw=0x08), status=0x04))
    assert fields == {"status": "BURST DRY POWER_LOW"}


def test_driver_does_not_print_hidden_fields() -> None:
    assert "status16" not in DRIVER.fields(telegram(rec("02FF20", raw=0x08)))


def test_driver_takes_the_first_matching_record() -> None:
    second = rec("0413", VifRange.VOLUME, unit="m3", value=9.0)
    assert DRIVER.fields(telegram(VOLUME, second))["total_m3"] == 1.5


def test_driver_prints_null_for_a_value_the_meter_flagged_invalid() -> None:
    invalid_date = rec("426C", VifRange.DATE, storage=1, value=None)
    assert DRIVER.fields(telegram(invalid_date))["target_date"] is None


def test_driver_prints_raw_fields_unscaled() -> None:
    counter = rec("04EEFF07", VifRange.HCA, value=1793.93, raw=179393)
    assert DRIVER.fields(telegram(counter))["va_counter"] == 179393


def test_driver_rounds_floats_to_six_decimals() -> None:
    volume = rec("0413", VifRange.VOLUME, unit="m3", value=0.0012460976)
    assert DRIVER.fields(telegram(volume))["total_m3"] == 0.001246


def test_driver_converts_a_record_unit_to_the_field_unit() -> None:
    megajoule = rec("040E", VifRange.ENERGY, unit="mj", value=36.0)
    assert DRIVER.fields(telegram(megajoule))["energy_kwh"] == 10.0


def test_driver_decides_per_header_but_reads_each_record_value() -> None:
    DRIVER.fields(telegram(VOLUME))
    other = rec("0413", VifRange.VOLUME, unit="m3", value=2.25)
    assert DRIVER.fields(telegram(other))["total_m3"] == 2.25


def test_driver_without_a_status_field_prints_no_status() -> None:
    driver = SpecDriver("plain", [], [field("energy", Quantity.ENERGY, Match(VifRange.ENERGY))])
    assert driver.fields(telegram(rec("0406", VifRange.ENERGY, unit="kwh", value=4))) == {
        "energy_kwh": 4
    }


def test_driver_declares_compact_layouts_as_bytes() -> None:
    assert DRIVER.compact_layouts == (bytes.fromhex("02FF200413"),)
