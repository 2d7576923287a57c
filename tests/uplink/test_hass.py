"""Home Assistant MQTT discovery documents (uplink/hass.py, issue 11)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from protocols.meters.registry import decode_fields
from protocols.telegram import MeterAddress
from protocols.wmbus.build import EllSpec, TelegramSpec, Tpl, build_telegram
from protocols.wmbus.decoder import TelegramDecoder
from protocols.wmbus.link import FrameFormat
from uplink.hass import (
    NOT_ENTITIES,
    HassError,
    check_discovery,
    check_discovery_topic,
    discovery_documents,
    entity_fields,
    gateway_document,
    gateway_state_topic,
    state_document,
    state_topic,
)

PREFIX = "concentratord"
GW = "gw-0001"
HA = "homeassistant"

WATER: dict[str, Any] = {
    "id": "76348799",
    "manufacturer": "KAM",
    "media": "cold water",
    "meter": "kamwater",
    "status": "OK",
    "total_m3": 123.456,
    "target_m3": 120.0,
    "flow_temperature_c": 9,
    "max_flow_m3h": 0.52,
    "target_date": "2026-02-01",
    "rssi_dbm": -71.5,
    "link_mode": "c1",
    "timestamp": "2026-03-01T10:00:00Z",
}

HEAT: dict[str, Any] = {
    "id": "11223344",
    "manufacturer": "KAM",
    "media": "heat",
    "meter": "kamheat",
    "status": "OK",
    "total_energy_consumption_kwh": 4567,
    "target_energy_kwh": 4100,
    "total_volume_m3": 98.765,
    "volume_flow_m3h": 0.25,
    "power_kw": 1.5,
    "t1_temperature_c": 70.1,
    "t2_temperature_c": 45.3,
    "flow_return_temperature_difference_c": 24.8,
    "on_time_h": 8760,
    "forward_energy_m3c": 123456,
    "timestamp": "2026-03-01T10:00:01.250Z",
}

ELECTRICITY: dict[str, Any] = {
    "id": "55667788",
    "manufacturer": "SEC",
    "media": "electricity",
    "meter": "iem3000",
    "status": "OK",
    "total_energy_consumption_kwh": 1234.5,
    "total_energy_production_kwh": 12.0,
    "active_consumption_kw": 2.2,
    "voltage_l1_n_v": 231.4,
    "current_l1_a": 4.1,
    "frequency_hz": 50.0,
    "reactive_consumption_kw": 0.3,
    "total_reactive_energy_consumption_kvarh": 88.0,
    "phases_counter": 3,
}

GAS: dict[str, Any] = {
    "id": "99001122",
    "manufacturer": "ABC",
    "media": "gas",
    "meter": "generic",
    "status": "OK",
    "total_m3": 4321.987,
}


Config = dict[str, tuple[str, dict[str, Any]]]
REACTIVE = (None, "kvarh", "total_increasing")


def docs(reading: dict[str, Any], *, prefix: str = HA, gateway: str = GW, **kw: Any) -> Config:
    """Config documents of ``reading`` by the field their value template reads."""
    pairs = discovery_documents(
        discovery_prefix=prefix,
        gateway=gateway,
        tenant_prefix=PREFIX,
        meter=reading,
        state_topic=state_topic(PREFIX, gateway, reading["manufacturer"], reading["id"]),
        availability_topic=gateway_state_topic(PREFIX, gateway),
        **kw,
    )
    out: Config = {}
    for topic, doc in pairs:
        field = re.fullmatch(r"\{\{ value_json\.(\w+) \| default\(''\) \}\}", doc["value_template"])
        assert field is not None, doc["value_template"]
        out[field.group(1)] = (topic, doc)
    assert len(out) == len(pairs)
    return out


def classes(doc: dict[str, Any]) -> tuple[Any, Any, Any]:
    return (doc.get("device_class"), doc.get("unit_of_measurement"), doc.get("state_class"))


def test_water_meter_gets_one_config_per_field_it_sent() -> None:
    sent = {k for k in WATER if k not in NOT_ENTITIES}
    assert set(docs(WATER)) == sent
    assert "flow_m3h" not in docs(WATER)  # a field this reading does not have


def test_identity_and_radio_mode_are_no_entities() -> None:
    got = docs(WATER)
    assert not {"id", "manufacturer", "media", "meter", "link_mode"} & set(got)


def test_entity_fields_lists_what_gets_a_config() -> None:
    assert entity_fields(WATER) == list(docs(WATER))


def test_water_total_is_water_m3_total_increasing() -> None:
    _, doc = docs(WATER)["total_m3"]
    assert classes(doc) == ("water", "m³", "total_increasing")


def test_billing_date_copy_has_no_state_class() -> None:
    _, doc = docs(WATER)["target_m3"]
    assert classes(doc) == ("water", "m³", None)


def test_heat_meter_energy_is_energy_kwh_total_increasing() -> None:
    _, doc = docs(HEAT)["total_energy_consumption_kwh"]
    assert classes(doc) == ("energy", "kWh", "total_increasing")


def test_heat_meter_volume_is_generic_volume_not_water() -> None:
    _, doc = docs(HEAT)["total_volume_m3"]
    assert classes(doc) == ("volume", "m³", "total_increasing")


def test_gas_meter_volume_is_gas() -> None:
    _, doc = docs(GAS)["total_m3"]
    assert classes(doc) == ("gas", "m³", "total_increasing")


@pytest.mark.parametrize(
    ("reading", "field"),
    [(HEAT, "t1_temperature_c"), (HEAT, "t2_temperature_c"), (WATER, "flow_temperature_c")],
)
def test_temperatures_are_temperature_celsius_measurement(
    reading: dict[str, Any], field: str
) -> None:
    _, doc = docs(reading)[field]
    assert classes(doc) == ("temperature", "°C", "measurement")


def test_temperature_difference_is_kelvin_without_temperature_class() -> None:
    _, doc = docs(HEAT)["flow_return_temperature_difference_c"]
    assert classes(doc) == (None, "K", "measurement")


@pytest.mark.parametrize(
    ("reading", "field", "expected"),
    [
        (HEAT, "volume_flow_m3h", ("volume_flow_rate", "m³/h", "measurement")),
        (HEAT, "power_kw", ("power", "kW", "measurement")),
        (HEAT, "on_time_h", ("duration", "h", "measurement")),
        (ELECTRICITY, "voltage_l1_n_v", ("voltage", "V", "measurement")),
        (ELECTRICITY, "current_l1_a", ("current", "A", "measurement")),
        (ELECTRICITY, "frequency_hz", ("frequency", "Hz", "measurement")),
        (ELECTRICITY, "total_energy_production_kwh", ("energy", "kWh", "total_increasing")),
        (ELECTRICITY, "total_reactive_energy_consumption_kvarh", REACTIVE),
        (ELECTRICITY, "phases_counter", (None, None, "total_increasing")),
        (WATER, "max_flow_m3h", ("volume_flow_rate", "m³/h", "measurement")),
    ],
)
def test_quantities_map_by_unit_suffix(
    reading: dict[str, Any], field: str, expected: tuple[Any, Any, Any]
) -> None:
    _, doc = docs(reading)[field]
    assert classes(doc) == expected


def test_status_is_a_plain_text_sensor() -> None:
    _, doc = docs(WATER)["status"]
    assert classes(doc) == (None, None, None)
    assert "entity_category" not in doc
    assert doc["name"] == "Status"


def test_dates_and_reception_time_are_date_and_timestamp_sensors() -> None:
    got = docs(WATER)
    assert classes(got["target_date"][1]) == ("date", None, None)
    assert classes(got["timestamp"][1]) == ("timestamp", None, None)
    assert got["timestamp"][1]["entity_category"] == "diagnostic"
    assert classes(got["rssi_dbm"][1]) == ("signal_strength", "dBm", "measurement")
    assert got["rssi_dbm"][1]["entity_category"] == "diagnostic"


def test_field_of_unknown_unit_is_a_diagnostic_plain_sensor() -> None:
    _, doc = docs(HEAT)["forward_energy_m3c"]
    assert classes(doc) == (None, None, None)
    assert doc["entity_category"] == "diagnostic"


def test_text_value_under_a_numeric_suffix_is_a_plain_sensor() -> None:
    reading = {**WATER, "total_m3": "0493AB"}  # e.g. a hex value the generic driver printed
    _, doc = docs(reading)["total_m3"]
    assert classes(doc) == (None, None, None)
    assert doc["entity_category"] == "diagnostic"


def test_null_value_keeps_its_quantity() -> None:
    _, doc = docs({**WATER, "total_m3": None})["total_m3"]
    assert classes(doc) == ("water", "m³", "total_increasing")


def test_field_name_that_is_not_an_identifier_is_skipped() -> None:
    reading = {**WATER, "Total m3": 1.0, "x}}{{": 2}
    assert set(docs(reading)) == set(docs(WATER))


@pytest.mark.parametrize("reading", [WATER, HEAT, ELECTRICITY, GAS])
def test_every_document_passes_check_discovery(reading: dict[str, Any]) -> None:
    for _, doc in docs(reading).values():
        assert check_discovery(doc) == [], doc


def test_gateway_document_passes_check_discovery() -> None:
    topic, doc = gateway_document(discovery_prefix=HA, gateway=GW, tenant_prefix=PREFIX)
    assert check_discovery(doc) == []
    assert check_discovery_topic(topic, HA) == []
    assert doc["state_topic"] == "concentratord/gateway/gw-0001/state"
    assert (doc["device_class"], doc["options"]) == ("enum", ["online", "offline"])


def test_meters_route_via_the_gateway_device() -> None:
    _, gateway = gateway_document(discovery_prefix=HA, gateway=GW, tenant_prefix=PREFIX)
    for _, doc in docs(WATER).values():
        assert doc["device"]["via_device"] in gateway["device"]["identifiers"]


def test_gateway_entity_is_distinct_per_tenant_prefix() -> None:
    a = gateway_document(discovery_prefix=HA, gateway=GW, tenant_prefix="utility-a")
    b = gateway_document(discovery_prefix=HA, gateway=GW, tenant_prefix="utility-b")
    assert a[0] != b[0]
    assert a[1]["unique_id"] != b[1]["unique_id"]
    assert a[1]["device"]["identifiers"] == b[1]["device"]["identifiers"]


@pytest.mark.parametrize("prefix", [HA, "ha/discovery"])
def test_topics_are_valid_config_topics_under_the_discovery_prefix(prefix: str) -> None:
    for topic, _ in docs(WATER, prefix=prefix).values():
        assert topic.startswith(f"{prefix}/sensor/")
        assert check_discovery_topic(topic, prefix) == []
        assert "+" not in topic and "#" not in topic


def test_object_id_is_the_unique_id_in_lower_case() -> None:
    topic, doc = docs(WATER)["total_m3"]
    assert doc["unique_id"] == "concentratord_gw-0001_KAM_76348799_total_m3"
    assert topic == "homeassistant/sensor/concentratord_gw_0001_kam_76348799_total_m3/config"
    object_id = topic.split("/")[-2]
    assert re.fullmatch(r"[a-z0-9_]+", object_id)


def test_unique_ids_do_not_change_with_values() -> None:
    later = {**WATER, "total_m3": 130.0, "status": "LEAK", "timestamp": "2026-03-02T10:00:00Z"}
    assert {f: d["unique_id"] for f, (_, d) in docs(WATER).items()} == {
        f: d["unique_id"] for f, (_, d) in docs(later).items()
    }
    assert [t for t, _ in docs(WATER).values()] == [t for t, _ in docs(later).values()]


def test_unique_ids_are_distinct_across_fields_meters_and_gateways() -> None:
    neighbour = {**WATER, "manufacturer": "DME"}  # the same id, another manufacturer
    ids = [
        doc["unique_id"]
        for reading, gateway in ((WATER, GW), (neighbour, GW), (HEAT, GW), (WATER, "gw-0002"))
        for _, doc in docs(reading, gateway=gateway).values()
    ]
    assert len(ids) == len(set(ids))


def test_device_names_the_meter() -> None:
    _, doc = docs(WATER)["total_m3"]
    assert doc["device"] == {
        "identifiers": ["concentratord_gw-0001_KAM_76348799"],
        "name": "KAM 76348799 cold water",
        "manufacturer": "KAM",
        "model": "kamwater",
        "via_device": "concentratord_gw-0001",
    }


def test_entity_reads_its_field_from_the_meter_state_topic() -> None:
    _, doc = docs(WATER)["total_m3"]
    assert doc["state_topic"] == "concentratord/gateway/gw-0001/meter/KAM-76348799/state"
    assert doc["value_template"] == "{{ value_json.total_m3 | default('') }}"
    assert doc["name"] == "Total"


def test_availability_is_the_gateway_state() -> None:
    _, doc = docs(WATER)["total_m3"]
    assert doc["availability"] == [
        {
            "topic": "concentratord/gateway/gw-0001/state",
            "value_template": "{{ value_json.state }}",
            "payload_available": "online",
            "payload_not_available": "offline",
        }
    ]
    assert "availability_topic" not in doc


def test_expire_after_is_passed_on() -> None:
    for _, doc in docs(WATER, expire_after=10800).values():
        assert doc["expire_after"] == 10800
    assert all("expire_after" not in d for _, d in docs(WATER).values())


@pytest.mark.parametrize("seconds", [0, -1])
def test_expire_after_must_be_positive(seconds: int) -> None:
    with pytest.raises(HassError):
        docs(WATER, expire_after=seconds)


def test_state_topic_form() -> None:
    assert (
        state_topic("utility-a/meters", GW, "KAM", "76348799")
        == "utility-a/meters/gateway/gw-0001/meter/KAM-76348799/state"
    )


@pytest.mark.parametrize(
    ("prefix", "gateway", "manufacturer", "meter_id"),
    [
        ("a/#", GW, "KAM", "76348799"),
        (PREFIX, "gw/1", "KAM", "76348799"),
        (PREFIX, GW, "K+M", "76348799"),
        (PREFIX, GW, "KAM", "7634/8799"),
        (PREFIX, GW, "KAM", ""),
    ],
)
def test_state_topic_refuses_topic_syntax(
    prefix: str, gateway: str, manufacturer: str, meter_id: str
) -> None:
    with pytest.raises(HassError):
        state_topic(prefix, gateway, manufacturer, meter_id)


@pytest.mark.parametrize("prefix", ["", "home/#", "home/", "$SYS"])
def test_discovery_prefix_must_be_a_topic_prefix(prefix: str) -> None:
    with pytest.raises(HassError):
        docs(WATER, prefix=prefix)


def test_reading_without_id_is_refused() -> None:
    with pytest.raises(HassError):
        discovery_documents(
            discovery_prefix=HA,
            gateway=GW,
            tenant_prefix=PREFIX,
            meter={k: v for k, v in WATER.items() if k != "id"},
            state_topic=state_topic(PREFIX, GW, "KAM", "76348799"),
            availability_topic=gateway_state_topic(PREFIX, GW),
        )


def test_state_document_carries_the_fields_and_the_timestamp() -> None:
    doc = state_document({**WATER, "extra": {"nested": 1}})
    assert doc["total_m3"] == 123.456
    assert doc["status"] == "OK"
    assert doc["timestamp"] == "2026-03-01T10:00:00Z"
    assert "extra" not in doc
    assert set(entity_fields(WATER)) <= set(doc)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"state_topic": None}, "state_topic"),
        ({"state_topic": "a/+/b"}, "wildcard"),
        ({"device_class": "heat"}, "not a sensor device class"),
        ({"unit_of_measurement": "m3"}, "not allowed for device_class"),
        ({"state_class": "increasing"}, "state_class"),
        ({"state_class": "measurement"}, "does not go with"),
        ({"unique_id": None}, "unique_id"),
        ({"device": {"name": "x"}}, "identifiers or connections"),
        ({"device": {"identifiers": ["x"], "serial_number": "1"}}, "serial_number"),
        ({"availability_topic": "a/b"}, "exclusive"),
        ({"entity_category": "config"}, "entity_category"),
        ({"expire_after": 0}, "expire_after"),
        ({"device_class": "date"}, "takes no"),
        ({"options": ["a"]}, "options"),
    ],
)
def test_check_discovery_names_what_is_wrong(change: dict[str, Any], problem: str) -> None:
    _, doc = docs(WATER)["total_m3"]
    broken = {**doc, **change}
    broken = {k: v for k, v in broken.items() if v is not None}
    found = check_discovery(broken)
    assert any(problem in p for p in found), found


@pytest.mark.parametrize(
    "topic",
    [
        "homeassistant/sensor/a+b/config",
        "homeassistant/light/x/config",
        "homeassistant/sensor/x/state",
        "other/sensor/x/config",
        "homeassistant/sensor/a.b/config",
    ],
)
def test_check_discovery_topic_refuses_bad_topics(topic: str) -> None:
    assert check_discovery_topic(topic, HA) != []


def _kamstrup_water_reading() -> dict[str, Any]:
    """A Kamstrup water telegram made by the project's builder, decoded by its decoder."""
    key = bytes(range(16))
    meter = MeterAddress("KAM", "76348799", 0x1B, 0x16)
    records = (
        bytes.fromhex("02FF20") + bytes(2)
        + bytes.fromhex("0413") + (123456).to_bytes(4, "little")
        + bytes.fromhex("4413") + (120000).to_bytes(4, "little")
        + bytes.fromhex("615B") + bytes([9])
        + bytes.fromhex("6167") + bytes([14])
    )  # fmt: skip
    spec = TelegramSpec(meter, records, tpl=Tpl.NONE, ell=EllSpec(access_number=1))
    raw = build_telegram(spec, key, FrameFormat.NONE)
    telegram = TelegramDecoder({"76348799": key}).decode(raw)
    return {**decode_fields(telegram), "timestamp": "2026-03-01T10:00:00Z"}


def _generic_heat_reading() -> dict[str, Any]:
    """An OMS heat meter no driver claims, decoded by the generic driver."""
    meter = MeterAddress("ABC", "11223344", 0x01, 0x04)
    records = (
        bytes.fromhex("0406") + (4567).to_bytes(4, "little")  # energy, kWh
        + bytes.fromhex("0413") + (98765).to_bytes(4, "little")  # volume, litres
        + bytes.fromhex("025B") + (70).to_bytes(2, "little")  # flow temperature
        + bytes.fromhex("025F") + (45).to_bytes(2, "little")  # return temperature
        + bytes.fromhex("022B") + (1500).to_bytes(2, "little")  # power, W
        + bytes.fromhex("023B") + (250).to_bytes(2, "little")  # volume flow, l/h
        + bytes.fromhex("0261") + (25).to_bytes(2, "little")  # temperature difference
        + bytes.fromhex("426C3F2A")  # billing date
    )  # fmt: skip
    raw = build_telegram(TelegramSpec(meter, records, tpl=Tpl.SHORT), None, FrameFormat.NONE)
    return dict(decode_fields(TelegramDecoder().decode(raw)))


@pytest.mark.parametrize("make", [_kamstrup_water_reading, _generic_heat_reading])
def test_decoded_telegram_gets_one_valid_config_per_field(make: Any) -> None:
    reading = make()
    got = docs(reading)
    assert list(got) == entity_fields(reading)
    assert set(got) == {k for k in reading if k not in NOT_ENTITIES}
    for topic, doc in got.values():
        assert check_discovery(doc) == []
        assert check_discovery_topic(topic, HA) == []


def test_decoded_heat_meter_quantities() -> None:
    got = docs(_generic_heat_reading())
    assert classes(got["total_energy_consumption_kwh"][1]) == ("energy", "kWh", "total_increasing")
    assert classes(got["flow_temperature_c"][1]) == ("temperature", "°C", "measurement")
    assert classes(got["return_temperature_c"][1]) == ("temperature", "°C", "measurement")
    assert classes(got["temperature_difference_k"][1]) == (None, "K", "measurement")
    assert classes(got["current_power_consumption_kw"][1]) == ("power", "kW", "measurement")
