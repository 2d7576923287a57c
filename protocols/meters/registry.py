"""All meter drivers, and choosing one for a telegram.

The driver is chosen by the meter's exact (manufacturer, version, device type); meters no
driver claims are decoded by the generic OMS driver. Lookups are dict lookups: the decoder
runs this for every telegram heard.
"""

from __future__ import annotations

from protocols.meters.apator_eitn import ApatorEitn
from protocols.meters.base import Fields, MeterDriver, Mvt
from protocols.meters.generic import GenericDriver
from protocols.meters.hydrodigit import Hydrodigit
from protocols.meters.ime import Ime
from protocols.meters.kamstrup_heat import KamstrupHeat
from protocols.meters.kamstrup_omnipower import KamstrupOmnipower
from protocols.meters.kamstrup_pressure import KamstrupPressure
from protocols.meters.kamstrup_water import KamstrupWater
from protocols.meters.media import media_name
from protocols.meters.qundis_water import QundisWater
from protocols.meters.schneider_iem3000 import SchneiderIem3000
from protocols.meters.techem import TechemFhkvDataIII, TechemMkRadio3a
from protocols.telegram import MeterAddress, Telegram
from protocols.wmbus.compact import format_signature

DRIVERS: tuple[MeterDriver, ...] = (
    KamstrupWater(),
    KamstrupHeat(),
    KamstrupPressure(),
    KamstrupOmnipower(),
    QundisWater(),
    Hydrodigit(),
    Ime(),
    SchneiderIem3000(),
    TechemMkRadio3a(),
    TechemFhkvDataIII(),
    ApatorEitn(),
)


def _by_mvt(drivers: tuple[MeterDriver, ...]) -> dict[Mvt, MeterDriver]:
    table: dict[Mvt, MeterDriver] = {}
    for driver in drivers:
        for mvt in driver.mvt:
            if mvt in table:
                raise ValueError(f"{mvt} claimed by {table[mvt].name} and {driver.name}")
            table[mvt] = driver
    return table


_BY_MVT = _by_mvt(DRIVERS)


# Meters no specific driver claims get every standard record named by the OMS driver.
GENERIC: MeterDriver = GenericDriver()


def driver_for(address: MeterAddress) -> MeterDriver:
    """The driver for this meter: by exact (manufacturer, version, type), else generic."""
    driver = _BY_MVT.get((address.manufacturer, address.version, address.device_type))
    return driver if driver is not None else GENERIC


def driver_named(name: str) -> MeterDriver | None:
    """The driver with this name or alias (``kamwater``, ``multical21``), if any."""
    for driver in DRIVERS:
        if driver.name == name or name in getattr(driver, "aliases", ()):
            return driver
    return None


_LAYOUTS = {
    format_signature(layout): layout for driver in DRIVERS for layout in driver.compact_layouts
}


def compact_layouts() -> dict[int, bytes]:
    """Every declared compact-frame layout, by its format signature (CRC-16/EN-13757).

    A new dict each call: a decoder adds the layouts it learns to its own copy.
    """
    return dict(_LAYOUTS)


def decode_fields(telegram: Telegram) -> Fields:
    """The decoded JSON fields of a telegram (docs/cli.md, "Decoded JSON"), no radio fields."""
    meter = telegram.meter
    driver = driver_for(meter)
    return {
        "id": meter.id,
        "manufacturer": meter.manufacturer,
        "media": media_name(meter.device_type),
        "meter": driver.name,
        **driver.fields(telegram),
    }
