"""All meter drivers, and choosing one for a telegram.

The driver is chosen by the meter's exact (manufacturer, version, device type); meters no
driver claims are decoded by the generic OMS driver. Lookups are dict lookups: the decoder
runs this for every telegram heard. :data:`BUILTIN` holds the package's drivers (Python
and data); a daemon with ``drivers.dir`` decodes with ``BUILTIN.extended(...)``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable

from protocols.errors import UnsupportedError
from protocols.meters import families
from protocols.meters.apator_eitn import ApatorEitn
from protocols.meters.base import Fields, MeterDriver, Mvt
from protocols.meters.builtin_data import builtin_data_drivers
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
from protocols.wmbus.config_field import Security, mode_name, mode_security

# The drivers written in Python (manufacturer-specific payloads); the data drivers of the
# package (protocols/meters/drivers/*.toml) join them in BUILTIN.
PYTHON_DRIVERS: tuple[MeterDriver, ...] = (
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


def family_drivers() -> tuple[MeterDriver, ...]:
    """The ``DRIVERS`` of every module of :mod:`protocols.meters.families`, by module name."""
    found: list[MeterDriver] = []
    for module in sorted(pkgutil.iter_modules(families.__path__), key=lambda m: m.name):
        found.extend(importlib.import_module(f"{families.__name__}.{module.name}").DRIVERS)
    return tuple(found)


# Meters no specific driver claims get every standard record named by the OMS driver.
GENERIC: MeterDriver = GenericDriver()


class DriverConflictError(ValueError):
    """Two drivers claim the same (manufacturer, version, device type) or name."""


class Registry:
    """A set of drivers, looked up by a meter's exact (manufacturer, version, type)."""

    def __init__(self, drivers: Iterable[MeterDriver]) -> None:
        self.drivers = tuple(drivers)
        by_mvt: dict[Mvt, MeterDriver] = {}
        names: dict[str, MeterDriver] = {}
        for driver in self.drivers:
            for mvt in driver.mvt:
                if mvt in by_mvt:
                    raise DriverConflictError(
                        f"{mvt[0]} version 0x{mvt[1]:02X} type 0x{mvt[2]:02X} is claimed by "
                        f"{by_mvt[mvt].name} and {driver.name}"
                    )
                by_mvt[mvt] = driver
            for name in (driver.name, *getattr(driver, "aliases", ())):
                if name in names:
                    raise DriverConflictError(f"driver name {name!r} is taken by {names[name]!r}")
                names[name] = driver
        self._by_mvt = by_mvt
        self._names = names
        self._layouts = {
            format_signature(layout): layout
            for driver in self.drivers
            for layout in driver.compact_layouts
        }

    def extended(self, drivers: Iterable[MeterDriver]) -> Registry:
        """This registry with ``drivers`` added (an operator's ``drivers.dir``);
        DriverConflictError when one claims a meter or a name already taken."""
        return Registry((*self.drivers, *drivers))

    def driver_for(self, address: MeterAddress) -> MeterDriver:
        """The driver for this meter: by exact (manufacturer, version, type), else generic."""
        driver = self._by_mvt.get((address.manufacturer, address.version, address.device_type))
        return driver if driver is not None else GENERIC

    def named(self, name: str) -> MeterDriver | None:
        """The driver with this name or alias (``kamwater``, ``multical21``), if any."""
        return self._names.get(name)

    def compact_layouts(self) -> dict[int, bytes]:
        """Every declared compact-frame layout, by its format signature (CRC-16/EN-13757).

        A new dict each call: a decoder adds the layouts it learns to its own copy.
        """
        return dict(self._layouts)

    def decode_fields(self, telegram: Telegram) -> Fields:
        """The decoded JSON fields of a telegram (docs/cli.md, "Decoded JSON"), no radio
        fields."""
        meter = telegram.meter
        driver = self.driver_for(meter)
        if driver is GENERIC and not telegram.records and _specific(telegram.security_mode):
            raise UnsupportedError(
                f"TPL security mode {telegram.security_mode} "
                f"({mode_name(telegram.security_mode)}): no driver knows the scheme of "
                f"{meter.manufacturer} version 0x{meter.version:02X} "
                f"type 0x{meter.device_type:02X}",
                meter_id=meter.id,
                manufacturer=meter.manufacturer,
            )
        return {
            "id": meter.id,
            "manufacturer": meter.manufacturer,
            "media": media_name(meter.device_type),
            "meter": driver.name,
            **driver.fields(telegram),
        }


def _specific(mode: int) -> bool:
    return mode_security(mode) is Security.SPECIFIC


#: The package's drivers: Python and data.
BUILTIN = Registry((*PYTHON_DRIVERS, *family_drivers(), *builtin_data_drivers()))
DRIVERS = BUILTIN.drivers


def driver_for(address: MeterAddress) -> MeterDriver:
    """The built-in driver for this meter (:meth:`Registry.driver_for`)."""
    return BUILTIN.driver_for(address)


def driver_named(name: str) -> MeterDriver | None:
    """The built-in driver with this name or alias, if any."""
    return BUILTIN.named(name)


def compact_layouts() -> dict[int, bytes]:
    """Every built-in compact-frame layout by its signature (:meth:`Registry.compact_layouts`)."""
    return BUILTIN.compact_layouts()


def decode_fields(telegram: Telegram) -> Fields:
    """The decoded fields of a telegram by the built-in drivers."""
    return BUILTIN.decode_fields(telegram)
