"""Schneider Electric iEM3000 series wired M-Bus electricity meters (driver ``iem3000``).

Most values are standard records, but the meter tells phases, averages and reactive
quantities apart in ways the generic driver cannot name: a manufacturer-specific VIFE
(``FF nn``) after a standard VIF selects the phase or the average, subunit 1 of an energy
or power record is its reactive counterpart and subunit 2 the apparent one, and frequency,
power factor and nominal frequency are manufacturer-specific records (VIF 0xFF). The
record headers and their meanings are facts of the meter's M-Bus register table as
collected in wmbusmeters' iem3000 driver.

The meter sends its measurements as 32-bit floats (about seven significant digits); they
are rounded to six decimals, as the established reader prints them.
"""

from __future__ import annotations

from protocols.meters.base import Fields, FieldValue, Mvt
from protocols.meters.mfct import generic_fields_without
from protocols.telegram import Telegram

MVT: tuple[Mvt, ...] = (("SEC", 0x13, 0x02), ("SEC", 0x15, 0x02), ("SEC", 0x18, 0x02))

# DIF/VIF header -> field name. Energies come as 32-bit (DIF 05, float) or 64-bit
# (DIF 07, integer) records depending on the firmware: both are listed.
_NAMES: dict[str, str] = {
    "05FDDCFF01": "current_l1_a",
    "05FDDCFF02": "current_l2_a",
    "05FDDCFF03": "current_l3_a",
    "05FDDCFF00": "current_average_a",
    "05FDC9FF01": "voltage_l1_n_v",
    "05FDC9FF02": "voltage_l2_n_v",
    "05FDC9FF03": "voltage_l3_n_v",
    "05FDC9FF04": "voltage_average_ln_v",
    "05FDC9FF05": "voltage_l1_l2_v",
    "05FDC9FF06": "voltage_l2_l3_v",
    "05FDC9FF07": "voltage_l3_l1_v",
    "05FDC9FF08": "voltage_average_ll_v",
    "05AEFF01": "active_consumption_l1_kw",
    "05AEFF02": "active_consumption_l2_kw",
    "05AEFF03": "active_consumption_l3_kw",
    "052E": "active_consumption_kw",
    "85402E": "reactive_consumption_kw",
    "8580402E": "apparent_consumption_kw",
    "05FF0A": "power_factor",
    "05FF0B": "frequency_hz",
    "03FF24": "nominal_frequency_hz",
    "03FF21": "phases_counter",
    "03FF22": "wires_nr",
}
for _dif in ("05", "07"):
    _NAMES.update(
        {
            f"{_dif}03": "total_energy_consumption_kwh",
            f"{_dif}83FF09": "total_energy_production_kwh",
            f"{_dif}83FF0D": "partial_energy_consumption_kwh",
            f"{_dif}83FF01": "total_energy_consumption_l1_kwh",
            f"{_dif}83FF02": "total_energy_consumption_l2_kwh",
            f"{_dif}83FF03": "total_energy_consumption_l3_kwh",
            f"8{_dif[1]}4003": "total_reactive_energy_consumption_kvarh",
            f"8{_dif[1]}4083FF09": "total_reactive_energy_production_kvarh",
            f"8{_dif[1]}4083FF0D": "partial_reactive_energy_consumption_kvarh",
        }
    )
_KEYS = frozenset(_NAMES)


def _value(value: object) -> FieldValue:
    """Floats to six decimals; NaN (the meter's "no value") and non-numbers to None."""
    if isinstance(value, float):
        return None if value != value else round(value, 6)
    if isinstance(value, int):
        return value
    return None


class SchneiderIem3000:
    """``iem3000``: phases, averages and reactive values named; the rest as generic."""

    aliases: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """``iem3000``."""
        return "iem3000"

    @property
    def mvt(self) -> frozenset[Mvt]:
        """The iEM3000 versions seen in the field."""
        return frozenset(MVT)

    @property
    def compact_layouts(self) -> tuple[bytes, ...]:
        """None: wired meters send full frames."""
        return ()

    def fields(self, telegram: Telegram) -> Fields:
        """The named records, then every other record as the generic driver names it."""
        out = generic_fields_without(telegram, _KEYS)
        for record in telegram.records:
            name = _NAMES.get(record.key)
            if name is not None and name not in out:
                out[name] = _value(record.value)
        return out
