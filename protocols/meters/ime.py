"""IME Conto D4 (and alike) wired M-Bus electricity meters (driver ``ime``).

The meter sends every value as a record with a manufacturer-specific VIF (0xFF + VIFEs):
the quantity is told by the VIFEs, tariff and phase by the DIFEs, and the scale is fixed
per record rather than coded in the VIF. So the records are recognised by their exact
DIF/VIF header. Headers, quantities and scales are facts of the meter's M-Bus manual as
collected in wmbusmeters' ime driver: energies in units of 0.01 kWh / kvarh, powers in
W / var / VA, voltages in 0.1 V, currents in mA, frequency in 0.1 Hz, power factor in
thousandths and run hours in minutes. All values are signed little-endian integers.
"""

from __future__ import annotations

from protocols.meters.base import Fields
from protocols.meters.mfct import ExtendedDriver
from protocols.telegram import Telegram

MVT = (("IME", 0x66, 0x02),)

# DIF/VIF header -> (field name, scale)
_VALUES: dict[str, tuple[str, float]] = {
    # Telegram 1: energy registers (total, tariffs 1/2, partial).
    "849010FF80843B": ("positive_total_active_energy_kwh", 0.01),
    "849010FF80843C": ("negative_total_active_energy_kwh", 0.01),
    "849010FF81843B": ("positive_total_reactive_energy_kvarh", 0.01),
    "849010FF81843C": ("negative_total_reactive_energy_kvarh", 0.01),
    "8410FF80843B": ("positive_tariff1_active_energy_kwh", 0.01),
    "8420FF80843B": ("positive_tariff2_active_energy_kwh", 0.01),
    "8410FF80843C": ("negative_tariff1_active_energy_kwh", 0.01),
    "8420FF80843C": ("negative_tariff2_active_energy_kwh", 0.01),
    "8410FF81843B": ("positive_tariff1_reactive_energy_kvarh", 0.01),
    "8420FF81843B": ("positive_tariff2_reactive_energy_kvarh", 0.01),
    "8410FF81843C": ("negative_tariff1_reactive_energy_kvarh", 0.01),
    "8420FF81843C": ("negative_tariff2_reactive_energy_kvarh", 0.01),
    "84A010FF80843B": ("partial_positive_active_energy_kwh", 0.01),
    "84A010FF80843C": ("partial_negative_active_energy_kwh", 0.01),
    "84A010FF81843B": ("partial_positive_reactive_energy_kvarh", 0.01),
    "84A010FF81843C": ("partial_negative_reactive_energy_kvarh", 0.01),
    "04FF9029": ("pulse_input_counter", 0.01),
    # Telegram 2: powers, three-phase total and per phase.
    "84B010FF842B": ("three_phase_total_active_power_kw", 0.001),
    "848020FF842B": ("active_power_l1_kw", 0.001),
    "849020FF842B": ("active_power_l2_kw", 0.001),
    "84A020FF842B": ("active_power_l3_kw", 0.001),
    "84B010FF852B": ("three_phase_total_reactive_power_kvar", 0.001),
    "848020FF852B": ("reactive_power_l1_kvar", 0.001),
    "849020FF852B": ("reactive_power_l2_kvar", 0.001),
    "84A020FF852B": ("reactive_power_l3_kvar", 0.001),
    "84B010FF862B": ("three_phase_total_apparent_power_kva", 0.001),
    "848020FF862B": ("apparent_power_l1_kva", 0.001),
    "849020FF862B": ("apparent_power_l2_kva", 0.001),
    "84A020FF862B": ("apparent_power_l3_kva", 0.001),
    # Telegram 3: voltages, currents, frequency.
    "848020FF8748": ("voltage_1_n_v", 0.1),
    "849020FF8748": ("voltage_2_n_v", 0.1),
    "84A020FF8748": ("voltage_3_n_v", 0.1),
    "848020FF8848": ("voltage_1_2_v", 0.1),
    "849020FF8848": ("voltage_2_3_v", 0.1),
    "84A020FF8848": ("voltage_3_1_v", 0.1),
    "848020FF8959": ("current_l1_a", 0.001),
    "849020FF8959": ("current_l2_a", 0.001),
    "84A020FF8959": ("current_l3_a", 0.001),
    "02FF8A48": ("frequency_hz", 0.1),
    # Telegram 4: power factor, demand, run hours.
    "82B010FF8B28": ("three_phase_power_factor", 0.001),
    "8410FF8D2B": ("total_active_power_requirement_kw", 0.001),
    "8410FF8E2B": ("max_total_active_power_tariff1_kw", 0.001),
    "8420FF8E2B": ("max_total_active_power_tariff2_kw", 0.001),
    "84B010FF8F21": ("run_meter_total_h", 1 / 60),
    "8410FF8F21": ("run_meter_tariff1_h", 1 / 60),
    "8420FF8F21": ("run_meter_tariff2_h", 1 / 60),
}

# Enumerations: header -> (field name, the names of the values 0, 1, 2, ...).
_PULSE_UNITS = "WH KWH MWH VARH KVARH MVARH VAH KVAH MVAH M3 KM3 WOOT NM3 KNM3 MNM3 J KJ MJ"
_PULSE_UNITS += " CAL KCAL G KG"
_ENUMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "02FF912B": ("pulse_unit", tuple(_PULSE_UNITS.split())),
    "82B010FF8C2B": ("power_factor_sector", ("RESISTIVE", "INDUCTIVE", "CAPACITIVE")),
}


class Ime(ExtendedDriver):
    """``ime``: every value from its manufacturer-specific record, by exact header."""

    def __init__(self) -> None:
        super().__init__("ime", MVT)

    def extra(self, telegram: Telegram, generic: Fields) -> Fields:
        """Scale each known record; enumerations become their names."""
        out: Fields = {}
        for record in telegram.records:
            key = record.key
            known = _VALUES.get(key)
            if known is not None:
                name, scale = known
                raw = int.from_bytes(record.data, "little", signed=True)
                out[name] = round(raw * scale, 6)
                continue
            enum = _ENUMS.get(key)
            if enum is not None:
                name, names = enum
                index = int.from_bytes(record.data, "little")
                out[name] = names[index] if index < len(names) else f"{name.upper()}_{index}"
        return out
