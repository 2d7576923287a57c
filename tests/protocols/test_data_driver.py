"""Drivers as data (issue 12, docs/drivers.md): a TOML table becomes a driver, and a table
that is not valid is refused naming its file and key."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from protocols.meters.builtin_data import builtin_data_drivers, parse_driver
from protocols.meters.data_driver import DataDriver, DriverDataError, driver_from_table
from protocols.meters.registry import BUILTIN, DriverConflictError, Registry
from protocols.records import encode_records, encode_scaled, parse_records
from protocols.telegram import MeterAddress, Telegram

METER = MeterAddress("ACM", "12345678", 0x01, 0x07)
ACME = """
name = "acme"
mvt = [["ACM", 0x01, 0x07]]
base = "none"

[[field]]
name = "total"
quantity = "volume"
match = { vif = "volume" }

[[field]]
name = "status"
quantity = "text"
match = { vif = "error_flags" }
lookup = "errors"
status = true

[lookup.errors]
kind = "bits"
default = "OK"
bits = { "0x01" = "LEAK", "0x04" = "LOW_BATTERY" }
"""


def telegram(block: bytes, status: int | None = 0) -> Telegram:
    return Telegram(
        METER, METER, 0x44, 0x7A, 1, status, 0, 0, False, block, tuple(parse_records(block))
    )


def block(volume_m3: float, error_flags: int) -> bytes:
    return encode_scaled(bytes.fromhex("0413"), volume_m3) + encode_records(
        [(bytes.fromhex("02FD17"), error_flags)]
    )


def acme(**changes: Any) -> DataDriver:
    table = tomllib.loads(ACME)
    table.update(changes)
    return driver_from_table(table, "acme.toml")


def error_of(text: str) -> str:
    with pytest.raises(DriverDataError) as caught:
        parse_driver(text, "drivers.d/acme.toml")
    return str(caught.value)


def test_a_table_declares_the_meters_and_the_fields_of_a_driver() -> None:
    driver = acme()
    assert driver.name == "acme" and driver.mvt == {("ACM", 0x01, 0x07)}
    assert driver.fields(telegram(block(12.345, 0))) == {"total_m3": 12.345, "status": "OK"}


def test_status_bits_become_words_and_unknown_bits_are_kept() -> None:
    fields = acme().fields(telegram(block(1.0, 0x01 | 0x04 | 0x80)))
    assert fields["status"] == "ERRORS_80 LEAK LOW_BATTERY"


def test_a_generic_base_names_every_record_and_renames_some() -> None:
    driver = acme(base="generic", field=[], lookup={}, renames={"total_m3": "volume_m3"})
    fields = driver.fields(telegram(block(2.0, 0)))
    assert fields["volume_m3"] == 2.0 and "total_m3" not in fields and fields["status"] == "OK"


def test_a_generic_base_drops_what_it_is_told_to() -> None:
    driver = acme(base="generic", field=[], lookup={}, drop=["error_flags"])
    assert "error_flags" not in driver.fields(telegram(block(2.0, 0)))


def test_an_unknown_key_is_named_with_the_file() -> None:
    message = error_of('colour = "red"\n' + ACME)
    assert message.startswith("drivers.d/acme.toml: colour: unknown key (known: aliases, base,")


def test_an_unknown_key_in_a_lookup_is_named_by_its_table() -> None:
    message = error_of(ACME + 'colour = "red"\n')
    assert message.startswith("drivers.d/acme.toml: lookup.errors.colour: unknown key")


def test_a_wrong_quantity_of_the_record_is_named_by_its_field() -> None:
    message = error_of(ACME.replace('vif = "volume"', 'vif = "volumes"'))
    assert message.startswith("drivers.d/acme.toml: field[0].match[0].vif: must be one of")


def test_a_triple_that_is_not_one_is_refused() -> None:
    message = error_of(ACME.replace('["ACM", 0x01, 0x07]', '["acm", 1, 7]'))
    assert "mvt[0][0]: must be three capital letters" in message
    message = error_of(ACME.replace('["ACM", 0x01, 0x07]', '["ACM", 1, 256]'))
    assert "mvt[0][2]: must be an integer 0-255" in message


def test_a_field_naming_a_missing_lookup_is_refused() -> None:
    assert "field[1].lookup: no [lookup.alarms] table" in error_of(
        ACME.replace('lookup = "errors"', 'lookup = "alarms"')
    )


def test_a_file_that_is_not_toml_is_refused_with_its_name() -> None:
    assert error_of("name = ").startswith("drivers.d/acme.toml: (file): not TOML")


def test_only_declared_fields_without_any_is_refused() -> None:
    assert 'base = "none" needs at least one' in error_of(
        'name = "acme"\nmvt = [["ACM", 1, 7]]\nbase = "none"\n'
    )


def test_every_builtin_data_driver_names_its_sources() -> None:
    drivers = builtin_data_drivers()
    assert drivers
    assert [d.name for d in drivers if not d.about["sources"]] == []


def test_builtin_data_drivers_are_in_the_registry() -> None:
    for driver in builtin_data_drivers():
        assert BUILTIN.named(driver.name) is not None


def test_a_driver_claiming_a_taken_triple_is_refused_naming_both() -> None:
    first = acme()
    second = acme(name="other")
    with pytest.raises(DriverConflictError, match="claimed by acme and other"):
        Registry((first, second))


def test_an_extended_registry_serves_the_added_driver() -> None:
    registry = BUILTIN.extended([acme()])
    assert registry.driver_for(METER).name == "acme"
    assert BUILTIN.driver_for(METER).name == "generic"


# -- tpl_status: the manufacturer bits of the TPL status byte ------------------------------

TAMPER = {"kind": "bits", "bits": {"0x40": "TAMPER"}}


def test_tpl_status_names_the_manufacturer_bits_and_keeps_the_standard_ones() -> None:
    driver = acme(tpl_status="tpl", lookup={**tomllib.loads(ACME)["lookup"], "tpl": TAMPER})
    # 0x40 named, 0x20 unnamed (reported under the lookup's name), 0x04 standard
    fields = driver.fields(telegram(block(1.0, 0x01), status=0x40 | 0x20 | 0x04))
    assert fields["status"] == "LEAK POWER_LOW TAMPER TPL_20"
    assert driver.fields(telegram(block(1.0, 0), status=None))["status"] == "OK"


def test_tpl_status_replaces_the_generic_names_of_include_tpl_status() -> None:
    table = tomllib.loads(ACME)
    table["field"][1]["include_tpl_status"] = True
    plain = driver_from_table(table, "acme.toml")
    assert plain.fields(telegram(block(1.0, 0), status=0x40))["status"] == "TPL_STATUS_40"
    table.update(tpl_status="tpl", lookup={**table["lookup"], "tpl": TAMPER})
    named = driver_from_table(table, "acme.toml")
    assert named.fields(telegram(block(1.0, 0), status=0x40))["status"] == "TAMPER"


def test_tpl_status_is_validated() -> None:
    def refused(**changes: Any) -> str:
        with pytest.raises(DriverDataError) as caught:
            acme(**changes)
        return str(caught.value)

    lookups = tomllib.loads(ACME)["lookup"]
    assert "tpl_status: no [lookup.tpl] table" in refused(tpl_status="tpl")
    index = {"kind": "index", "mask": 0xE0, "values": {"0x20": "X"}}
    assert 'must be kind = "bits"' in refused(tpl_status="tpl", lookup={**lookups, "tpl": index})
    low = {"kind": "bits", "bits": {"0x04": "X"}}
    message = refused(tpl_status="tpl", lookup={**lookups, "tpl": low})
    assert "lookup.tpl.bits: 0x04 is not a manufacturer bit" in message
    fields = tomllib.loads(ACME)["field"][:1]
    message = refused(tpl_status="tpl", field=fields, lookup={**lookups, "tpl": TAMPER})
    assert "tpl_status: needs a [[field]] with status = true" in message


# -- {storage} / {tariff}: one field per number of a span ----------------------------------


def _history(**match: Any) -> dict[str, Any]:
    return {"name": "total_{storage}", "quantity": "volume", "match": {"vif": "volume", **match}}


def test_a_storage_placeholder_expands_to_one_field_per_storage() -> None:
    driver = acme(field=[_history(storage=[1, 3])], lookup={})
    assert [spec.output_name() for spec in driver.specs] == [
        "total_1_m3",
        "total_2_m3",
        "total_3_m3",
    ]
    records = b"".join(
        encode_scaled(bytes.fromhex(header), value)
        # storage 1, storage 3 (DIF bit 6 + DIFE storage bit 1), storage 0 (not a field)
        for header, value in (("4413", 1.5), ("C40113", 2.5), ("0413", 9.0))
    )
    assert driver.fields(telegram(records)) == {"total_1_m3": 1.5, "total_3_m3": 2.5}


def test_a_tariff_placeholder_expands_with_the_storage_one() -> None:
    spec = {**_history(storage=[0, 1], tariff=[1, 2]), "name": "e_s{storage}_t{tariff}"}
    driver = acme(field=[spec], lookup={})
    names = [s.output_name() for s in driver.specs]
    assert names == ["e_s0_t1_m3", "e_s0_t2_m3", "e_s1_t1_m3", "e_s1_t2_m3"]


def test_a_placeholder_needs_matches_with_one_span() -> None:
    def refused(spec: dict[str, Any]) -> str:
        with pytest.raises(DriverDataError) as caught:
            acme(field=[spec], lookup={})
        return str(caught.value)

    keyed = {"name": "x_{storage}", "quantity": "volume", "match": {"key": "0413"}}
    assert "field[0].name: {storage} needs matches by vif" in refused(keyed)
    two = {**_history(), "match": [{"vif": "volume", "storage": 1}, {"vif": "volume"}]}
    assert "field[0].match: {storage}: every match needs the same storage" in refused(two)
    assert "field[0].match.storage: {storage}: span wider than 256" in refused(
        _history(storage=[0, 300])
    )
    with pytest.raises(DriverDataError, match="more than 256 fields once spans are expanded"):
        acme(field=[_history(storage=[0, 200]), _history(storage=[201, 400])], lookup={})
