"""Home Assistant MQTT discovery: config documents for a tenant's meters (issue 11).

Pure building blocks; the daemon decides when to publish what (nothing here touches a
socket, a file or a clock). For each field a meter actually sent, one MQTT *sensor*
entity: a retained config document on the discovery topic, reading its value from a
per-meter state document, and the gateway's retained state topic as its availability.

Topics
    ``{discovery_prefix}/sensor/{object_id}/config`` (no node id: Home Assistant's advice
    for entities that have a ``unique_id`` is to use it as the object id), where
    ``object_id`` is the ``unique_id`` lower-cased with every run of characters outside
    ``[a-z0-9]`` turned into one ``_``. ``unique_id`` is
    ``concentratord_{gateway}_{MAN}_{id}_{field}``: stable for as long as the gateway id,
    the meter and the field name are. Two gateway ids that differ only in case or
    punctuation (``gw-1``, ``gw_1``) give the same object ids: keep them apart.
    The per-meter state is ``{prefix}/gateway/{gw}/meter/{MAN}-{id}/state``
    (:func:`state_topic`), the document :func:`state_document`.

Devices
    One device per meter (``identifiers`` ``concentratord_{gw}_{MAN}_{id}``, name
    ``"KAM 76348799 water"``, ``manufacturer`` the 3-letter code, ``model`` the driver name
    when known), ``via_device`` the gateway's device ``concentratord_{gw}``, which
    :func:`gateway_document` declares (an ``enum`` sensor of the gateway's state). Only
    the classic device keys are used (identifiers, name, manufacturer, model, sw_version,
    via_device): the device schema refuses keys it does not know, and newer keys
    (``serial_number`` ...) would make older Home Assistant releases refuse the entity.

Availability
    The gateway's retained ``{prefix}/gateway/{gw}/state`` carries a JSON object whose
    ``state`` is ``online`` or ``offline`` (docs/uplink.md, the last will is ``offline``).
    So every entity has ``availability: [{topic, value_template: "{{ value_json.state }}",
    payload_available: "online", payload_not_available: "offline"}]`` (the list form, whose
    entries may carry a ``value_template``; it excludes ``availability_topic``). This needs
    the JSON codec on that topic: a tenant with the ``compact`` codec cannot use discovery.

Values
    ``value_template`` is ``{{ value_json.<field> | default('') }}``. A numeric Home
    Assistant sensor ignores an empty template output and keeps its last value, so a state
    document without the field (a short frame) does not blank it and logs no template
    warning; a field that decoded to JSON ``null`` renders ``None``, which Home Assistant
    takes as "unknown". Field names are put into templates only when they are plain
    identifiers (``[a-z][a-z0-9_]*``, as every driver names them); others are skipped.

Mapping (:data:`UNITS`, by the unit suffix of docs/cli.md, "Decoded JSON", i.e. the last
``_`` part of the field name)
    ============  ===================  ======  ==========================================
    suffix        device_class         unit    state_class
    ============  ===================  ======  ==========================================
    ``m3``        water / gas / volume m³      total_increasing (1)
    ``kwh``       energy               kWh     total_increasing (1)
    ``kg``        weight               kg      total_increasing (1)
    ``hca``       -                    -       total_increasing (1)
    ``counter``   -                    -       total_increasing (1)
    ``kvarh``     -                    kvarh   total_increasing (1)
    ``kvah``      -                    kVAh    total_increasing (1)
    ``m3h``       volume_flow_rate     m³/h    measurement
    ``kgh``       -                    kg/h    measurement
    ``kw``        power                kW      measurement
    ``kvar``      -                    kvar    measurement
    ``kva``       -                    kVA     measurement
    ``c``         temperature          °C      measurement (2)
    ``k``         -                    K       measurement
    ``bar``       pressure             bar     measurement
    ``v``         voltage              V       measurement
    ``a``         current              A       measurement
    ``hz``        frequency            Hz      measurement
    ``rh``        humidity             %       measurement
    ``h``         duration             h       measurement
    ``d``         duration             d       measurement
    ``deg``       -                    °       measurement
    ``dbm``       signal_strength      dBm     measurement, diagnostic
    ============  ===================  ======  ==========================================

    (1) Volume is ``water`` when the meter's ``media`` names water (``water``, ``cold
    water``, ``warm water`` ...), ``gas`` for gas meters, else the generic ``volume`` (the
    water a heat meter circulates is not water consumption). An accumulated value is
    ``total_increasing`` (Home Assistant takes a decrease as a meter reset) when it is the
    live register; a copy of a past value (``target_*``, ``previous_*``, ``*_storage_N*``,
    ``*_delta_*``, ``*at_set_date*``) or a ``max_``/``min_`` has no state class, so it
    makes no long-term statistics that could be mistaken for consumption.
    (2) A temperature *difference* (``*difference*_c``, e.g.
    ``flow_return_temperature_difference_c``) gets no device class and the unit ``K``:
    the ``temperature`` class would convert it to °F as a temperature (5 °C -> 41 °F), and
    ``temperature_delta`` was only added in October 2025 (older releases refuse an unknown
    device class, and with it the whole entity).
    Reactive and apparent quantities get no device class: ``reactive_power`` took only
    ``var`` until ``kvar`` was added in 2025, ``apparent_power`` takes only ``VA``, and
    the device-class list read has no reactive energy; Home Assistant refuses an entity
    whose unit its device class does not allow.

    By name, before the suffix: ``status`` is a text sensor (no device class; ``OK`` or
    the flags); ``timestamp`` (when the gateway received the reading) is a diagnostic
    ``timestamp`` sensor "Last reading"; ``rssi_dbm`` a diagnostic ``signal_strength``
    "RSSI"; ``*_date`` (``YYYY-MM-DD``) a ``date`` sensor. ``id``, ``manufacturer``,
    ``media``, ``meter`` (the device), ``link_mode``, ``interval_end`` and ``error`` are
    not entities (:data:`NOT_ENTITIES`).

    Everything else (no known suffix: ``fabrication_no``, ``meter_datetime`` without a
    time zone, Kamstrup's ``time_dry``, raw registers such as ``forward_energy_m3c``, a
    plain-text VIF unit), and any field whose row says numeric but whose value is text,
    is still an entity, so that nothing the meter sent is hidden: a plain sensor without
    device class, unit or state class, in the ``diagnostic`` category. Home Assistant shows
    its value as text (state at most 255 characters). :func:`entity_fields` lists the
    fields that become entities.

Source of facts (read for this module; every line here is our own)
    - Home Assistant, MQTT integration, "MQTT Discovery": discovery topic
      ``<discovery_prefix>/<component>/[<node_id>/]<object_id>/config``, node and object
      ids ``[a-zA-Z0-9_-]``, object id = unique_id advice, retained configs, an empty
      retained payload removes the entity
      (https://www.home-assistant.io/integrations/mqtt/#discovery-topic).
    - Home Assistant, "MQTT Sensor" (https://www.home-assistant.io/integrations/sensor.mqtt/):
      ``state_topic`` required; ``availability`` (list of topic, payload_available,
      payload_not_available, value_template; not with ``availability_topic``),
      ``availability_template``, ``device`` (only with ``unique_id``), ``expire_after``,
      ``value_template``, ``state_class``, ``unit_of_measurement``.
    - Home Assistant, "Sensor" device classes and state classes
      (https://www.home-assistant.io/integrations/sensor/#device-class,
      https://developers.home-assistant.io/docs/core/entity/sensor/), and the source
      github.com/home-assistant/core: ``homeassistant/components/sensor/const.py``
      (``SensorDeviceClass``, ``DEVICE_CLASS_UNITS``, ``DEVICE_CLASS_STATE_CLASSES``),
      ``homeassistant/const.py`` (unit strings), ``homeassistant/components/mqtt/sensor.py``
      (a unit not allowed for the device class is refused; an empty template output is
      ignored by numeric sensors; ``None`` means unknown),
      ``homeassistant/components/mqtt/schemas.py`` (device needs ``identifiers`` or
      ``connections``; ``availability`` and ``availability_topic`` exclusive).
    - Pull requests home-assistant/core#147358 and home-assistant/home-assistant.io#41344
      (``temperature_delta``, October 2025).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from uplink.topics import TopicError, Topics, check_prefix

DEFAULT_DISCOVERY_PREFIX = "homeassistant"
COMPONENT = "sensor"

# The gateway's state topic says "online"/"offline" in the "state" key of a JSON object.
PAYLOAD_AVAILABLE = "online"
PAYLOAD_NOT_AVAILABLE = "offline"
AVAILABILITY_TEMPLATE = "{{ value_json.state }}"

ORIGIN_NAME = "concentratord"

# Keys of a reading that describe the meter or the reception, not a value of the meter.
NOT_ENTITIES = frozenset(
    {"id", "manufacturer", "media", "meter", "link_mode", "interval_end", "error"}
)

# Required keys of an MQTT sensor config (the MQTT read-only schema): only the state topic.
REQUIRED_KEYS: tuple[str, ...] = ("state_topic",)

STATE_CLASSES = frozenset({"measurement", "total", "total_increasing"})

# Sensor device classes of Home Assistant (SensorDeviceClass values).
DEVICE_CLASSES = frozenset(
    {
        "date", "enum", "timestamp", "apparent_power", "aqi", "area",
        "atmospheric_pressure", "battery", "blood_glucose_concentration",
        "carbon_monoxide", "carbon_dioxide", "conductivity", "current", "data_rate",
        "data_size", "distance", "duration", "energy", "energy_distance", "energy_storage",
        "frequency", "gas", "humidity", "illuminance", "irradiance", "moisture", "monetary",
        "nitrogen_dioxide", "nitrogen_monoxide", "nitrous_oxide", "ozone", "ph", "pm1",
        "pm10", "pm25", "power_factor", "power", "precipitation", "precipitation_intensity",
        "pressure", "reactive_power", "signal_strength", "sound_pressure", "speed",
        "sulphur_dioxide", "temperature", "temperature_delta", "volatile_organic_compounds",
        "volatile_organic_compounds_parts", "voltage", "volume", "volume_storage",
        "volume_flow_rate", "water", "weight", "wind_direction", "wind_speed",
    }
)  # fmt: skip

# Device classes whose state is not a number: no unit, no state class.
NON_NUMERIC_DEVICE_CLASSES = frozenset({"date", "enum", "timestamp"})

_VOLUMES = frozenset({"m³", "L", "mL", "ft³", "CCF", "gal", "fl. oz."})
_ENERGIES = frozenset(
    {"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal", "Mcal", "Gcal"}
)

# The units Home Assistant accepts for a device class (the classes this module uses and
# their neighbours); a class not listed here is not checked for its unit.
DEVICE_CLASS_UNITS: dict[str, frozenset[str]] = {
    "energy": _ENERGIES,
    "energy_storage": _ENERGIES,
    "water": frozenset({"m³", "L", "ft³", "CCF", "gal"}),
    "gas": frozenset({"m³", "ft³", "CCF"}),
    "volume": _VOLUMES,
    "volume_storage": _VOLUMES,
    "volume_flow_rate": frozenset(
        {"m³/h", "m³/s", "ft³/min", "L/h", "L/min", "L/s", "gal/min", "mL/s"}
    ),
    "temperature": frozenset({"°C", "°F", "K"}),
    "temperature_delta": frozenset({"°C", "°F", "K"}),
    "power": frozenset({"mW", "W", "kW", "MW", "GW", "TW"}),
    "apparent_power": frozenset({"VA"}),
    "reactive_power": frozenset({"var"}),
    "voltage": frozenset({"µV", "mV", "V", "kV", "MV"}),
    "current": frozenset({"mA", "A"}),
    "pressure": frozenset({"Pa", "hPa", "kPa", "bar", "cbar", "mbar", "mmHg", "inHg", "psi"}),
    "frequency": frozenset({"Hz", "kHz", "MHz", "GHz"}),
    "humidity": frozenset({"%"}),
    "battery": frozenset({"%"}),
    "duration": frozenset({"d", "h", "min", "s", "ms"}),
    "weight": frozenset({"g", "kg", "mg", "µg", "oz", "lb", "st"}),
    "signal_strength": frozenset({"dB", "dBm"}),
}

_TOTALS = frozenset({"total", "total_increasing"})
_MEASUREMENT = frozenset({"measurement"})
# The state classes a device class goes with (others make Home Assistant warn); a class
# not listed here is not checked.
DEVICE_CLASS_STATE_CLASSES: dict[str, frozenset[str]] = {
    "energy": _TOTALS,
    "water": _TOTALS,
    "gas": _TOTALS,
    "volume": _TOTALS,
    "weight": STATE_CLASSES,
    "duration": STATE_CLASSES,
    "volume_flow_rate": _MEASUREMENT,
    "temperature": _MEASUREMENT,
    "power": _MEASUREMENT,
    "voltage": _MEASUREMENT,
    "current": _MEASUREMENT,
    "pressure": _MEASUREMENT,
    "frequency": _MEASUREMENT,
    "humidity": _MEASUREMENT,
    "signal_strength": _MEASUREMENT,
    "date": frozenset(),
    "enum": frozenset(),
    "timestamp": frozenset(),
}

# The keys the device schema knows in every release that has discovery with device info.
DEVICE_KEYS = frozenset(
    {"identifiers", "connections", "name", "manufacturer", "model", "sw_version", "via_device"}
)
ENTITY_CATEGORIES = frozenset({"diagnostic"})  # "config" is refused for sensors

_OBJECT_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_FIELD = re.compile(r"^[a-z][a-z0-9_]*$")
# One topic level built into a topic: no wildcards, separators or NUL, not starting '$'.
_LEVEL = re.compile(r"^[^/#+\x00$][^/#+\x00]*$")
# A copy of a past value, not the live register.
_SNAPSHOT = re.compile(r"^(?:target|previous|max|min)_|_storage_\d|_delta_|at_set_date")


class HassError(ValueError):
    """A reading, a topic part or a prefix cannot be turned into discovery documents."""


@dataclass(frozen=True, slots=True)
class UnitRow:
    """What a unit suffix becomes in Home Assistant.

    ``device_class`` None means a plain numeric sensor with ``unit`` (None: unitless);
    ``accumulates`` says the live value is a running total (``total_increasing``) rather
    than an instantaneous one (``measurement``); ``diagnostic`` puts the entity in the
    diagnostic category.
    """

    suffix: str
    device_class: str | None
    unit: str | None
    accumulates: bool
    diagnostic: bool = False


UNITS: tuple[UnitRow, ...] = (
    UnitRow("m3", "volume", "m³", accumulates=True),  # water / gas by media, see volume_class
    UnitRow("kwh", "energy", "kWh", accumulates=True),
    UnitRow("kg", "weight", "kg", accumulates=True),
    UnitRow("hca", None, None, accumulates=True),
    UnitRow("counter", None, None, accumulates=True),
    UnitRow("kvarh", None, "kvarh", accumulates=True),
    UnitRow("kvah", None, "kVAh", accumulates=True),
    UnitRow("m3h", "volume_flow_rate", "m³/h", accumulates=False),
    UnitRow("kgh", None, "kg/h", accumulates=False),
    UnitRow("kw", "power", "kW", accumulates=False),
    UnitRow("kvar", None, "kvar", accumulates=False),
    UnitRow("kva", None, "kVA", accumulates=False),
    UnitRow("c", "temperature", "°C", accumulates=False),
    UnitRow("k", None, "K", accumulates=False),
    UnitRow("bar", "pressure", "bar", accumulates=False),
    UnitRow("v", "voltage", "V", accumulates=False),
    UnitRow("a", "current", "A", accumulates=False),
    UnitRow("hz", "frequency", "Hz", accumulates=False),
    UnitRow("rh", "humidity", "%", accumulates=False),
    UnitRow("h", "duration", "h", accumulates=False),
    UnitRow("d", "duration", "d", accumulates=False),
    UnitRow("deg", None, "°", accumulates=False),
    UnitRow("dbm", "signal_strength", "dBm", accumulates=False, diagnostic=True),
)
_BY_SUFFIX: dict[str, UnitRow] = {row.suffix: row for row in UNITS}
_TEMPERATURE_DIFFERENCE = UnitRow("c", None, "K", accumulates=False)


@dataclass(frozen=True, slots=True)
class Entity:
    """How one field of a reading is shown: the keys of its config document."""

    field: str
    name: str
    device_class: str | None = None
    unit: str | None = None
    state_class: str | None = None
    diagnostic: bool = False


def volume_class(media: object) -> str:
    """``water``, ``gas`` or ``volume`` for the volume fields of a meter of this ``media``."""
    text = media.lower() if isinstance(media, str) else ""
    if "water" in text:
        return "water"
    if text == "gas":
        return "gas"
    return "volume"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _label(stem: str) -> str:
    """``flow_temperature`` -> ``Flow temperature``."""
    words = stem.replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else stem


def _plain(field: str, diagnostic: bool = True) -> Entity:
    return Entity(field, _label(field), diagnostic=diagnostic)


def entity_for(field: str, value: object, media: object = None) -> Entity | None:
    """How ``field`` (with this ``value``, of a meter of this ``media``) is shown, or None
    when it is not an entity (:data:`NOT_ENTITIES`, non-scalar values, names that are not
    plain identifiers). The rules are the module's "Mapping"."""
    if field in NOT_ENTITIES or not _FIELD.match(field):
        return None
    if value is not None and not isinstance(value, str | int | float):
        return None
    if field == "status":
        return _plain(field, diagnostic=False)
    if field == "timestamp":
        if not isinstance(value, str | None):
            return _plain(field)
        return Entity(field, "Last reading", device_class="timestamp", diagnostic=True)
    if field == "rssi_dbm":
        if not (value is None or _is_number(value)):
            return _plain(field)
        return Entity(field, "RSSI", "signal_strength", "dBm", "measurement", diagnostic=True)
    stem, _, suffix = field.rpartition("_")
    if suffix == "date" and stem:
        if not isinstance(value, str | None):
            return _plain(field)
        return Entity(field, _label(field), device_class="date")
    row = _BY_SUFFIX.get(suffix) if stem else None
    if row is None or not (value is None or _is_number(value)):
        return _plain(field)
    if row.suffix == "c" and "difference" in stem:
        row = _TEMPERATURE_DIFFERENCE
    device_class = volume_class(media) if row.suffix == "m3" else row.device_class
    if not row.accumulates:
        state_class: str | None = "measurement"
    elif _SNAPSHOT.search(field):
        state_class = None
    else:
        state_class = "total_increasing"
    return Entity(field, _label(stem), device_class, row.unit, state_class, row.diagnostic)


def entity_fields(reading: Mapping[str, Any]) -> list[str]:
    """The fields of ``reading`` that become entities, in the reading's order."""
    media = reading.get("media")
    return [k for k, v in reading.items() if entity_for(k, v, media) is not None]


def slug(text: str) -> str:
    """``text`` as an object id: lower case, each run outside ``[a-z0-9]`` one ``_``."""
    out = _NOT_SLUG.sub("_", text.lower()).strip("_")
    if not out:
        raise HassError(f"{text!r} gives an empty object id")
    return out


def _level(what: str, value: object) -> str:
    if not isinstance(value, str) or not _LEVEL.match(value):
        raise HassError(f"{what} {value!r} cannot be part of a topic")
    return value


def _meter_key(reading: Mapping[str, Any]) -> tuple[str, str]:
    manufacturer = _level("manufacturer", reading.get("manufacturer"))
    meter_id = _level("meter id", reading.get("id"))
    return manufacturer, meter_id


def _topics(tenant_prefix: str, gateway: str) -> Topics:
    try:
        return Topics(tenant_prefix, gateway)
    except TopicError as err:
        raise HassError(str(err)) from None


def gateway_state_topic(tenant_prefix: str, gateway: str) -> str:
    """``{prefix}/gateway/{gw}/state``: the retained online/offline state (availability)."""
    return _topics(tenant_prefix, gateway).state


def state_topic(tenant_prefix: str, gateway: str, manufacturer: str, meter_id: str) -> str:
    """``{prefix}/gateway/{gw}/meter/{MAN}-{id}/state``: where a meter's state document goes."""
    base = _topics(tenant_prefix, gateway).base
    man = _level("manufacturer", manufacturer)
    ident = _level("meter id", meter_id)
    return f"{base}/meter/{man}-{ident}/state"


def state_document(reading: Mapping[str, Any]) -> dict[str, Any]:
    """The per-meter state payload: the reading's scalar values, ``timestamp`` included.

    ``id`` and ``manufacturer`` are required; values that are not JSON scalars are left
    out. Flat, so that ``{{ value_json.total_m3 }}`` reads a field.
    """
    _meter_key(reading)
    return {
        k: v
        for k, v in reading.items()
        if isinstance(k, str) and (v is None or isinstance(v, str | int | float))
    }


def discovery_topic(discovery_prefix: str, object_id: str) -> str:
    """``{discovery_prefix}/sensor/{object_id}/config``."""
    try:
        check_prefix(discovery_prefix)
    except TopicError as err:
        raise HassError(f"discovery prefix: {err}") from None
    if not _OBJECT_ID.match(object_id):
        raise HassError(f"object id {object_id!r} is not [a-zA-Z0-9_-]")
    return f"{discovery_prefix}/{COMPONENT}/{object_id}/config"


def _availability(availability_topic: str) -> list[dict[str, str]]:
    return [
        {
            "topic": availability_topic,
            "value_template": AVAILABILITY_TEMPLATE,
            "payload_available": PAYLOAD_AVAILABLE,
            "payload_not_available": PAYLOAD_NOT_AVAILABLE,
        }
    ]


def gateway_device_id(gateway: str) -> str:
    """The identifier of the gateway's device, the ``via_device`` of its meters."""
    return f"concentratord_{gateway}"


def meter_device(*, gateway: str, meter: Mapping[str, Any]) -> dict[str, Any]:
    """The ``device`` block of a meter's entities."""
    manufacturer, meter_id = _meter_key(meter)
    media = meter.get("media")
    name = f"{manufacturer} {meter_id}"
    if isinstance(media, str) and media:
        name += f" {media}"
    device: dict[str, Any] = {
        "identifiers": [f"concentratord_{gateway}_{manufacturer}_{meter_id}"],
        "name": name,
        "manufacturer": manufacturer,
        "via_device": gateway_device_id(gateway),
    }
    model = meter.get("meter")
    if isinstance(model, str) and model:
        device["model"] = model
    return device


def _origin(sw_version: str | None) -> dict[str, str]:
    origin = {"name": ORIGIN_NAME}
    if sw_version:
        origin["sw_version"] = sw_version
    return origin


def discovery_documents(
    *,
    discovery_prefix: str,
    gateway: str,
    tenant_prefix: str,
    meter: Mapping[str, Any],
    state_topic: str,
    availability_topic: str,
    expire_after: int | None = None,
    sw_version: str | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """(discovery topic, config document) for each field of ``meter`` that is an entity.

    ``meter`` is a decoded reading (``id``, ``manufacturer``, ``media`` and ``meter`` when
    known, and its fields); ``state_topic`` is where its :func:`state_document` goes
    (:func:`state_topic`), ``availability_topic`` the gateway's state topic
    (:func:`gateway_state_topic`). ``expire_after`` (seconds, optional) makes a value
    unavailable when no state document came for that long. Publish each retained.
    """
    _topics(tenant_prefix, gateway)  # the tenant's tree must be valid
    manufacturer, meter_id = _meter_key(meter)
    for what, topic in (("state topic", state_topic), ("availability topic", availability_topic)):
        if not topic or any(c in topic for c in "#+\x00") or topic.startswith("$"):
            raise HassError(f"{what} {topic!r} is not a valid topic")
    if expire_after is not None and (isinstance(expire_after, bool) or expire_after <= 0):
        raise HassError(f"expire_after {expire_after!r} is not a positive number of seconds")
    media = meter.get("media")
    out: list[tuple[str, dict[str, Any]]] = []
    for field, value in meter.items():
        entity = entity_for(field, value, media)
        if entity is None:
            continue
        unique_id = f"concentratord_{gateway}_{manufacturer}_{meter_id}_{field}"
        doc: dict[str, Any] = {
            "name": entity.name,
            "unique_id": unique_id,
            "state_topic": state_topic,
            "value_template": f"{{{{ value_json.{field} | default('') }}}}",
            "availability": _availability(availability_topic),
            "device": meter_device(gateway=gateway, meter=meter),
            "origin": _origin(sw_version),
            "qos": 1,
        }
        if entity.device_class is not None:
            doc["device_class"] = entity.device_class
        if entity.unit is not None:
            doc["unit_of_measurement"] = entity.unit
        if entity.state_class is not None:
            doc["state_class"] = entity.state_class
        if entity.diagnostic:
            doc["entity_category"] = "diagnostic"
        if expire_after is not None:
            doc["expire_after"] = expire_after
        out.append((discovery_topic(discovery_prefix, slug(unique_id)), doc))
    return out


def gateway_document(
    *,
    discovery_prefix: str,
    gateway: str,
    tenant_prefix: str,
    sw_version: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """(discovery topic, config) of the gateway's own device: an ``enum`` sensor of its
    state (``online``/``offline``), read from :func:`gateway_state_topic`.

    It declares the device the meters name as ``via_device``. Its unique id carries the
    tenant prefix: two tenants of one gateway on one Home Assistant each get one.
    """
    topic = gateway_state_topic(tenant_prefix, gateway)
    unique_id = f"concentratord_{gateway}_{slug(tenant_prefix)}_state"
    device: dict[str, Any] = {
        "identifiers": [gateway_device_id(gateway)],
        "name": f"concentratord {gateway}",
        "manufacturer": ORIGIN_NAME,
        "model": "wireless M-Bus gateway",
    }
    if sw_version:
        device["sw_version"] = sw_version
    doc: dict[str, Any] = {
        "name": "State",
        "unique_id": unique_id,
        "state_topic": topic,
        "value_template": AVAILABILITY_TEMPLATE,
        "device_class": "enum",
        "options": [PAYLOAD_AVAILABLE, PAYLOAD_NOT_AVAILABLE],
        "entity_category": "diagnostic",
        "device": device,
        "origin": _origin(sw_version),
        "qos": 1,
    }
    return discovery_topic(discovery_prefix, slug(unique_id)), doc


def check_discovery_topic(topic: str, discovery_prefix: str) -> list[str]:
    """What is wrong with ``topic`` as a sensor discovery topic under ``discovery_prefix``."""
    problems: list[str] = []
    if any(c in topic for c in "#+\x00") or topic.startswith("$"):
        problems.append(f"topic {topic!r} has a wildcard, a NUL or a leading '$'")
    head = f"{discovery_prefix}/"
    if not topic.startswith(head):
        return [*problems, f"topic {topic!r} is not under the discovery prefix {head!r}"]
    parts = topic[len(head) :].split("/")
    if len(parts) not in (3, 4) or parts[0] != COMPONENT or parts[-1] != "config":
        problems.append(f"topic {topic!r} is not {head}{COMPONENT}/[<node_id>/]<object_id>/config")
        return problems
    for part in parts[1:-1]:
        if not _OBJECT_ID.match(part):
            problems.append(f"topic level {part!r} is not [a-zA-Z0-9_-]")
    return problems


def _check_topic(key: str, value: object) -> list[str]:
    if not isinstance(value, str) or not value:
        return [f"{key} must be a non-empty string"]
    if any(c in value for c in "#+\x00"):
        return [f"{key} {value!r} has a wildcard or a NUL"]
    return []


def _check_device(device: object) -> list[str]:
    if not isinstance(device, Mapping):
        return ["device must be an object"]
    unknown = sorted(str(k) for k in device if k not in DEVICE_KEYS)
    problems = [f"device key {k!r} is not known to every release" for k in unknown]
    identifiers = device.get("identifiers")
    if isinstance(identifiers, str):
        identifiers = [identifiers]
    if not identifiers and not device.get("connections"):
        problems.append("device needs identifiers or connections")
    elif identifiers and not all(isinstance(i, str) and i for i in identifiers):
        problems.append("device identifiers must be non-empty strings")
    for key in ("name", "manufacturer", "model", "sw_version", "via_device"):
        if key in device and not isinstance(device[key], str):
            problems.append(f"device {key} must be a string")
    return problems


def _check_availability(doc: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    if "availability" in doc and "availability_topic" in doc:
        problems.append("availability and availability_topic are exclusive")
    if "availability_topic" in doc:
        problems += _check_topic("availability_topic", doc["availability_topic"])
    if "availability" in doc:
        entries = doc["availability"]
        if not isinstance(entries, list) or not entries:
            return [*problems, "availability must be a non-empty list"]
        for n, entry in enumerate(entries):
            if not isinstance(entry, Mapping):
                problems.append(f"availability[{n}] must be an object")
                continue
            problems += _check_topic(f"availability[{n}].topic", entry.get("topic"))
    return problems


def _check_classes(doc: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    device_class = doc.get("device_class")
    state_class = doc.get("state_class")
    unit = doc.get("unit_of_measurement")
    if device_class is not None and device_class not in DEVICE_CLASSES:
        problems.append(f"device_class {device_class!r} is not a sensor device class")
    if state_class is not None and state_class not in STATE_CLASSES:
        problems.append(f"state_class {state_class!r} is not one of {sorted(STATE_CLASSES)}")
    if unit is not None and not isinstance(unit, str):
        problems.append("unit_of_measurement must be a string")
    if device_class in NON_NUMERIC_DEVICE_CLASSES:
        if unit is not None:
            problems.append(f"device_class {device_class!r} takes no unit_of_measurement")
        if state_class is not None:
            problems.append(f"device_class {device_class!r} takes no state_class")
    elif (
        isinstance(device_class, str)
        and device_class in DEVICE_CLASS_UNITS
        and unit not in DEVICE_CLASS_UNITS[device_class]
    ):
        problems.append(f"unit {unit!r} is not allowed for device_class {device_class!r}")
    if (
        isinstance(device_class, str)
        and state_class is not None
        and device_class in DEVICE_CLASS_STATE_CLASSES
        and state_class not in DEVICE_CLASS_STATE_CLASSES[device_class]
    ):
        problems.append(f"state_class {state_class!r} does not go with {device_class!r}")
    if "options" in doc:
        if device_class != "enum":
            problems.append("options need device_class 'enum'")
        if not isinstance(doc["options"], list) or not doc["options"]:
            problems.append("options must be a non-empty list")
        if state_class is not None or unit is not None:
            problems.append("options exclude state_class and unit_of_measurement")
    if "last_reset_value_template" in doc and state_class != "total":
        problems.append("last_reset_value_template needs state_class 'total'")
    return problems


def check_discovery(doc: Mapping[str, Any]) -> list[str]:
    """What a sensor config document lacks or gets wrong, by Home Assistant's rules
    (module "Source of facts"): required keys, topics without wildcards, the device class,
    its unit and state class, device and availability blocks. Empty when it is fine."""
    problems = [f"missing {key}" for key in REQUIRED_KEYS if key not in doc]
    if "state_topic" in doc:
        problems += _check_topic("state_topic", doc["state_topic"])
    if "device" in doc:
        problems += _check_device(doc["device"])
        unique_id = doc.get("unique_id")
        if not isinstance(unique_id, str) or not unique_id:
            problems.append("device is ignored without a unique_id")
    elif "unique_id" in doc and (not isinstance(doc["unique_id"], str) or not doc["unique_id"]):
        problems.append("unique_id must be a non-empty string")
    problems += _check_availability(doc)
    problems += _check_classes(doc)
    for key in ("name", "value_template", "availability_template"):
        if key in doc and doc[key] is not None and not isinstance(doc[key], str):
            problems.append(f"{key} must be a string")
    category = doc.get("entity_category")
    if category is not None and category not in ENTITY_CATEGORIES:
        problems.append(f"entity_category {category!r} is not allowed for a sensor")
    expire = doc.get("expire_after")
    if expire is not None and not (_is_number(expire) and isinstance(expire, int) and expire > 0):
        problems.append("expire_after must be a positive integer")
    if doc.get("qos", 0) not in (0, 1, 2):
        problems.append("qos must be 0, 1 or 2")
    return problems
