"""The generic OMS driver: every standard data record as a named field.

It is the fallback for meters no specific driver claims (``mvt`` is empty). Names follow
the conventions wireless M-Bus users know (docs/cli.md, "Decoded JSON"): quantity-suffixed
snake case in the canonical unit of the record (``_kwh`` for energy whatever the VIF's unit,
``_m3``, ``_m3h``, ``_c``, ...). How a name is made:

- a stem by quantity and storage number: storage 0 of an accumulating quantity is the
  running total (``total_m3``, ``total_energy_consumption_kwh``, ``current_consumption_hca``),
  storage 1 the value at the set (billing) date (``target_m3``, ``target_energy_kwh``,
  ``consumption_at_set_date_hca``, ``target_date``); other quantities and higher storage
  numbers get ``_storage_N``;
- combinable VIFE 0x3C (backward / negative contributions) turns consumption into
  production (``total_energy_production_kwh``, ``current_power_production_kw``), 0x3B adds
  ``_forward``; a phase from the combinable extension (FC 01..03) adds ``_at_phase_N``;
- ``max_`` / ``min_`` / ``error_state_`` prefixes for the DIF function; ``_tariff_N`` and
  ``_subunit_N`` qualifiers;
- the unit suffix last. Two records that still end up with the same name are told apart by
  their header: the second becomes e.g. ``total_04933c_m3``.

Manufacturer-specific records (VIF 0x7F, DIF 0x0F/0x1F) are left out: their layout is the
manufacturer's (they stay available in ``Telegram.records``). A compact profile (combinable
VIFE 0x13, 0x1E or 0x1F: a series of values in one record, protocols/records/profile.py)
is expanded when its base date is known (a date record of the same storage number):
element ``n`` (1-based, in the order sent) is named as the same quantity at storage
number ``base + n`` (``consumption_at_set_date_9_hca`` for element 1 of an HCA profile of
storage 8), its date ``<that name without the unit>_date``. A profile that cannot be read,
or has no base date, is left out. ``status`` is built from the TPL status byte
(EN 13757-3 clause 7.4.2 / table 9) and the error flags record (FD 17).
"""

from __future__ import annotations

import re

from protocols.errors import DecodeError
from protocols.meters.base import Fields, FieldValue, Mvt
from protocols.records.model import Function, Record, VifRange
from protocols.records.profile import base_date, expand, is_profile, parse_profile
from protocols.telegram import Telegram

_BACKWARD = 0x3C  # accumulation of the absolute value of negative contributions only
_FORWARD = 0x3B  # accumulation of positive contributions only
_COMBINABLE_EXTENSION = 0x7C  # next VIFE from the combinable extension table (FC)

# Quantity -> (stem for storage 0, stem for storage 1 or None for "_storage_1").
_STEMS: dict[VifRange, tuple[str, str | None]] = {
    VifRange.VOLUME: ("total", "target"),
    VifRange.ENERGY: ("total_energy_consumption", "target_energy"),
    VifRange.MASS: ("total_mass", "target_mass"),
    VifRange.REACTIVE_ENERGY: ("total_reactive_energy_consumption", "target_reactive_energy"),
    VifRange.APPARENT_ENERGY: ("total_apparent_energy_consumption", "target_apparent_energy"),
    VifRange.HCA: ("current_consumption", "consumption_at_set_date"),
    VifRange.DATE: ("meter_date", "target_date"),
    VifRange.DATE_TIME: ("meter_datetime", "target_datetime"),
    VifRange.POWER: ("current_power_consumption", None),
    VifRange.REACTIVE_POWER: ("current_reactive_power_consumption", None),
    VifRange.APPARENT_POWER: ("current_apparent_power_consumption", None),
    VifRange.VOLUME_FLOW: ("flow", None),
    VifRange.MASS_FLOW: ("mass_flow", None),
    VifRange.FLOW_TEMPERATURE: ("flow_temperature", None),
    VifRange.RETURN_TEMPERATURE: ("return_temperature", None),
    VifRange.TEMPERATURE_DIFFERENCE: ("temperature_difference", None),
    VifRange.EXTERNAL_TEMPERATURE: ("external_temperature", None),
    VifRange.PRESSURE: ("pressure", None),
    VifRange.VOLTAGE: ("voltage", None),
    VifRange.CURRENT: ("current", None),
    VifRange.FREQUENCY: ("frequency", None),
    VifRange.RELATIVE_HUMIDITY: ("relative_humidity", None),
}

# Stems when the record counts backward (negative) contributions only (combinable 0x3C).
_BACKWARD_STEMS: dict[VifRange, tuple[str, str | None]] = {
    VifRange.VOLUME: ("total_backward", "target_backward"),
    VifRange.ENERGY: ("total_energy_production", "target_energy_production"),
    VifRange.REACTIVE_ENERGY: (
        "total_reactive_energy_production",
        "target_reactive_energy_production",
    ),
    VifRange.APPARENT_ENERGY: (
        "total_apparent_energy_production",
        "target_apparent_energy_production",
    ),
    VifRange.POWER: ("current_power_production", None),
    VifRange.REACTIVE_POWER: ("current_reactive_power_production", None),
    VifRange.APPARENT_POWER: ("current_apparent_power_production", None),
    VifRange.VOLUME_FLOW: ("backward_flow", None),
}

_FUNCTION_PREFIX: dict[Function, str] = {
    Function.INSTANTANEOUS: "",
    Function.MAXIMUM: "max_",
    Function.MINIMUM: "min_",
    Function.ERROR_STATE: "error_state_",
}

_UNIT_CHARS = re.compile(r"[^a-z0-9]+")


def is_compact_profile(record: Record) -> bool:
    """Whether ``record`` is a compact profile (combinable VIFE 0x13, 0x1E or 0x1F)."""
    return is_profile(record)


def status_flags(status: int | None) -> list[str]:
    """Flag names of a TPL status byte (EN 13757-3 table 9), unsorted."""
    if not status:
        return []
    flags: list[str] = []
    app = status & 0x03  # application status: 01 busy, 10 error, 11 abnormal situation
    if app:
        flags.append(("", "BUSY", "ERROR", "ALARM")[app])
    if status & 0x04:
        flags.append("POWER_LOW")
    if status & 0x08:
        flags.append("PERMANENT_ERROR")
    if status & 0x10:
        flags.append("TEMPORARY_ERROR")
    if status & 0xE0:  # manufacturer specific bits: no meaning known to a generic driver
        flags.append(f"UNKNOWN_{status & 0xE0:X}")
    return flags


def _stem(record: Record) -> str:
    """The name of a record without function prefix, qualifiers and unit."""
    rng = record.vif_range
    combinables = record.combinables
    table = _BACKWARD_STEMS if _BACKWARD in combinables and rng in _BACKWARD_STEMS else _STEMS
    stems = table.get(rng)
    storage = record.storage
    if stems is None:
        base = rng.value
        return base if storage == 0 else f"{base}_storage_{storage}"
    first, second = stems
    if storage == 0:
        return first
    if storage == 1 and second is not None:
        return second
    if rng is VifRange.HCA:
        return f"{second}_{storage}"
    return f"{first}_storage_{storage}"


def field_name(record: Record) -> str:
    """The generic field name of one standard record (before collision handling)."""
    name = _stem(record)
    prefix = _FUNCTION_PREFIX[record.function]
    if prefix:
        for lead in ("current_", "total_"):
            if name.startswith(lead):
                name = name[len(lead) :]
                break
        name = prefix + name
    combinables = record.combinables
    if _FORWARD in combinables:
        name += "_forward"
    if _COMBINABLE_EXTENSION in combinables:
        i = combinables.index(_COMBINABLE_EXTENSION)
        if i + 1 < len(combinables) and 1 <= combinables[i + 1] <= 3:
            name += f"_at_phase_{combinables[i + 1]}"
    if record.tariff:
        name += f"_tariff_{record.tariff}"
    if record.subunit:
        name += f"_subunit_{record.subunit}"
    return name + _unit_suffix(record.unit)


def _unit_suffix(unit: str) -> str:
    """``_kwh`` for ``kwh``; plain-text units are reduced to [a-z0-9]; none -> ``""``."""
    clean = _UNIT_CHARS.sub("", unit.lower())
    return f"_{clean}" if clean else ""


def _field_value(record: Record) -> FieldValue:
    value = record.value
    if isinstance(value, bytes):
        return value.hex().upper()
    return value


class GenericDriver:
    """Fallback driver: names every standard record of an OMS telegram (see module doc)."""

    @property
    def name(self) -> str:
        """``generic``."""
        return "generic"

    @property
    def mvt(self) -> frozenset[Mvt]:
        """Empty: the generic driver serves what no other driver claims."""
        return frozenset()

    @property
    def compact_layouts(self) -> tuple[bytes, ...]:
        """None: compact layouts are learnt from full frames by the decoder."""
        return ()

    def fields(self, telegram: Telegram) -> Fields:
        """Every standard record as a field, plus ``status`` (and ``error_flags``)."""
        out: Fields = {}
        flags = status_flags(telegram.status)
        records = telegram.records
        for record in records:
            rng = record.vif_range
            if rng is VifRange.MANUFACTURER_SPECIFIC:
                continue
            if is_profile(record):
                self._put_profile(out, records, record)
                continue
            if rng is VifRange.ERROR_FLAGS and isinstance(record.raw, int):
                text = f"ERROR_FLAGS_{record.raw:X}" if record.raw else "OK"
                if record.raw and record.storage == 0 and record.function is Function.INSTANTANEOUS:
                    flags.append(text)
                name = "error_flags" if record.storage == 0 else f"error_flags_{record.storage}"
                self._put(out, name, "", record, text)
                continue
            name = field_name(record)
            self._put(out, name, _unit_suffix(record.unit), record, _field_value(record))
        out["status"] = " ".join(sorted(set(flags))) if flags else "OK"
        return out

    @classmethod
    def _put_profile(
        cls, out: Fields, records: tuple[Record, ...] | list[Record], record: Record
    ) -> None:
        """The elements of a compact profile with their dates (nothing when it cannot be
        read or has no base date)."""
        base = base_date(records, record)
        if base is None:
            return
        try:
            elements = expand(parse_profile(record), base)
        except DecodeError:
            return
        suffix = _unit_suffix(record.unit)
        for n, (date, value) in enumerate(elements, start=1):
            name = field_name(record._replace(storage=record.storage + n))
            stem = name[: len(name) - len(suffix)] if suffix else name
            cls._put(out, name, suffix, record, value)
            cls._put(out, f"{stem}_date", "", record, date)

    @staticmethod
    def _put(out: Fields, name: str, suffix: str, record: Record, value: FieldValue) -> None:
        """Store ``value`` under ``name``, or under a header-qualified name on collision."""
        if name in out:
            stem = name[: len(name) - len(suffix)] if suffix else name
            name = f"{stem}_{record.key.lower()}{suffix}"
            if name in out:  # the very same header twice: keep both, numbered
                n = 2
                while f"{stem}_{record.key.lower()}_{n}{suffix}" in out:
                    n += 1
                name = f"{stem}_{record.key.lower()}_{n}{suffix}"
        out[name] = value
