"""A fixed-data answer (CI 0x73 / 0x77, EN 13757-3 annex, formerly EN 1434-3) as a meter
and records, so that it goes through the same drivers and readings as variable data.

Fixed data names no manufacturer and no version: the meter is ``("", id, 0, device type)``,
its device type the 4-bit fixed medium where the two tables agree (0 other to 8 heat cost
allocator, and the "mode 2" media as their mode 1 kin; EN 13757-3 table 6 for the device
types). Media 4 (heat) and 7 (water) are verified against the libmbus corpus; the rest
follows the tables (UNVERIFIED, as :data:`~protocols.mbus.application.FIXED_MEDIA`).

Each counter becomes a record with no header bytes (fixed data has no DIF/VIF), function
"instantaneous", its quantity and value in the canonical unit of the VIF tables (``kwh``,
``kw``, ``m3``, ``m3h``). Unit code 0x3E ("same but historic") gives counter 2 counter 1's
unit at storage 1, its historic value. A unit code outside :data:`QUANTITIES` keeps the raw
number with no unit (``VifRange.OTHER``). Unit codes 0x05 (kWh) and 0x29 (l) and 0x3E are
verified against the libmbus corpus; the other scales follow the unit table's decades.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Final

from protocols.mbus.application import FixedCounter, FixedData
from protocols.records.model import Function, Record, VifRange
from protocols.telegram import MeterAddress

UNIT_HISTORIC: Final = 0x3E

# The fixed medium -> the EN 13757-3 device type.
DEVICE_TYPES: Final[dict[int, int]] = {
    **{code: code for code in range(9)},  # other, oil, electricity, gas, heat, ... HCA
    0xA: 0x03,  # gas, mode 2
    0xB: 0x04,  # heat, mode 2
    0xC: 0x06,  # hot water, mode 2
    0xD: 0x07,  # water, mode 2
    0xE: 0x08,  # heat cost allocator, mode 2
}


Quantity = tuple[VifRange, str, Fraction]  # quantity, canonical unit, factor to that unit


def _decades(
    first: int, quantity: VifRange, unit: str, base: Fraction, count: int
) -> dict[int, Quantity]:
    """Codes ``first``, ``first + 1``, ... for ``base`` x 1, 10, 100, 1000, ...: the unit
    table's pattern (Wh, 10 Wh, 100 Wh, kWh, ...)."""
    return {first + i: (quantity, unit, base * 10**i) for i in range(count)}


_KJ = Fraction(1, 3600)  # kWh per kJ (and kW per kJ/h)
_ML = Fraction(1, 10**6)  # m3 per ml
# Unit code -> (quantity, canonical unit, factor from the counter to that unit).
QUANTITIES: Final[dict[int, Quantity]] = {
    **_decades(0x02, VifRange.ENERGY, "kwh", Fraction(1, 1000), 9),  # Wh .. 100 MWh
    **_decades(0x0B, VifRange.ENERGY, "kwh", _KJ, 9),  # kJ .. 100 GJ
    **_decades(0x14, VifRange.POWER, "kw", Fraction(1, 1000), 9),  # W .. 100 MW
    **_decades(0x1D, VifRange.POWER, "kw", _KJ, 9),  # kJ/h .. 100 GJ/h
    **_decades(0x26, VifRange.VOLUME, "m3", _ML, 9),  # ml .. 100 m3
    **_decades(0x2F, VifRange.VOLUME_FLOW, "m3h", _ML, 9),  # ml/h .. 100 m3/h
}


def fixed_meter(fixed: FixedData) -> MeterAddress:
    """The meter a fixed-data answer comes from (no manufacturer, no version)."""
    return MeterAddress("", fixed.id, 0, DEVICE_TYPES.get(fixed.medium_code, 0x00))


def _record(counter: FixedCounter, unit_code: int, storage: int, offset: int) -> Record:
    raw = counter.value
    vif_range, unit, factor = QUANTITIES.get(unit_code, (VifRange.OTHER, "", Fraction(1)))
    scaled = raw * factor
    value: int | float = int(scaled) if scaled.denominator == 1 else float(scaled)
    return Record(
        header=b"",
        data=b"",
        function=Function.INSTANTANEOUS,
        storage=storage,
        tariff=0,
        subunit=0,
        vif_range=vif_range,
        unit=unit,
        value=value,
        raw=raw,
        offset=offset,
    )


def fixed_records(fixed: FixedData) -> tuple[Record, ...]:
    """The two counters as records (offsets 8 and 12: where they sit in the user data)."""
    first, second = fixed.counters
    if second.unit_code == UNIT_HISTORIC:
        return (_record(first, first.unit_code, 0, 8), _record(second, first.unit_code, 1, 12))
    return (_record(first, first.unit_code, 0, 8), _record(second, second.unit_code, 0, 12))
