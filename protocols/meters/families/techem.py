"""Techem meters beyond ``mkradio3a`` / ``fhkvdataiii`` (protocols/meters/techem.py).

Drivers and what they read (facts from wmbusmeters' driver definitions of the same names,
drivers/src/<name>.xmq and src/driver_compact5.cc; offsets count in the data after the CI
field, ``Telegram.manufacturer_data``):

- ``compact5`` (Compact V heat meter, CI 0xA1/0xA2): 3 bytes, then the previous billing
  period's energy (3 bytes LE, kWh), 1 byte, the current period's energy (3 bytes LE, kWh);
  the total is their sum.
- ``mkradio3`` (MK Radio 3 water meter, CI 0xA2): 1 byte, previous date (packed
  ``yyyyyyy mmmm ddddd``), previous volume (2 bytes, 0.1 m3), current date (the same
  packing shifted left by 4 bits, no year), current volume (2 bytes, 0.1 m3). The current
  year is the previous one's, or the next once the current date reaches the previous one.
- ``vario411``, ``vario451mid`` (heat meters), ``mkradio4a`` (water meter),
  ``fhkvdataiv`` (heat cost allocator): standard records (``vario*`` behind an ELL), named
  as those drivers name them. ``fhkvdataiv`` also sends a compact profile (VIFE 0x1F) of
  monthly consumption, expanded to ``consumption_at_set_date_N`` (see
  :func:`monthly_profile`; the profile itself is read by :mod:`protocols.records.profile`).

The device types 0x43 and 0x62 are Techem's own (a heat meter, a warm-water meter):
``media`` then says what the meter measures rather than "reserved".
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from protocols.errors import DecodeError, FormatError
from protocols.meters.base import Fields, FieldValue, MeterDriver, Mvt
from protocols.meters.media import media_name
from protocols.meters.mfct import ExtendedDriver, generic_fields_without, iso_date, need, uint_le
from protocols.records.model import Function, Record, VifRange
from protocols.records.profile import (
    Direction,
    ProfileValue,
    expand,
    is_profile,
    parse_profile,
)
from protocols.telegram import Telegram

# Techem device types outside EN 13757-3 table 3, by what the meter measures.
_TECHEM_MEDIA = {0x43: "heat", 0x62: "warm water", 0x72: "water"}

# A record selector: (quantity, storage number), instantaneous values only.
Selector = tuple[VifRange, int]


def _media(telegram: Telegram) -> Fields:
    """``media`` for Techem's own device types; nothing for standard ones."""
    device_type = telegram.meter.device_type
    if media_name(device_type) != "reserved" or device_type not in _TECHEM_MEDIA:
        return {}
    return {"media": _TECHEM_MEDIA[device_type]}


def _find(telegram: Telegram, selector: Selector) -> Record | None:
    """The first instantaneous record of this quantity and storage number (no tariff)."""
    vif_range, storage = selector
    for record in telegram.records:
        if (
            record.vif_range is vif_range
            and record.storage == storage
            and record.function is Function.INSTANTANEOUS
            and record.tariff == 0
            and not _is_profile(record)
        ):
            return record
    return None


def _is_profile(record: Record) -> bool:
    # VIFE 0x13 / 0x1E / 0x1F: a compact profile, EN 13757-3 (protocols/records/profile.py).
    return is_profile(record)


def _value(record: Record) -> FieldValue:
    value = record.value
    if isinstance(value, float):
        return round(value, 6)
    return value if isinstance(value, int | str) else None


class _Named(ExtendedDriver):
    """Named standard records (``name -> selector``) plus the generic rest."""

    def __init__(
        self,
        name: str,
        mvt: tuple[Mvt, ...],
        names: dict[str, Selector],
        *,
        drop_profiles: bool = True,
    ) -> None:
        super().__init__(name, mvt)
        self._names = names
        self._drop_profiles = drop_profiles

    def fields(self, telegram: Telegram) -> Fields:
        """The named records, the other standard records as the generic driver names
        them, and what :meth:`extra` adds."""
        named: Fields = {}
        used: set[str] = set()
        for field, selector in self._names.items():
            record = _find(telegram, selector)
            if record is not None:
                named[field] = _value(record)
                used.add(record.key)
        if self._drop_profiles:
            used.update(r.key for r in telegram.records if _is_profile(r))
        out = generic_fields_without(telegram, frozenset(used))
        out.update(named)
        out.update(_media(telegram))
        with contextlib.suppress(DecodeError):  # a malformed profile: keep the readings
            out.update(self.extra(telegram, out))
        return out

    def extra(self, telegram: Telegram, generic: Fields) -> Fields:
        """Nothing beyond the named records."""
        return {}


# -- compact profiles ----------------------------------------------------------------------


def monthly_profile(record: Record, base_date: str) -> list[tuple[str | None, ProfileValue]]:
    """The (date, value) pairs of a monthly compact profile, oldest first.

    As the fhkvdataiv telegrams show (their sum equals the billing-date reading), the last
    element is the month after ``base_date`` (the record's own storage date) and the first
    the newest (:attr:`Direction.BACKWARD_TO_BASE`). Values are printed as sent
    (increments, as the established driver prints them). Raises :class:`FormatError` for
    a profile that is not monthly (or cannot be read).
    """
    profile = parse_profile(record)
    if profile.months is None:
        raise FormatError(
            f"compact profile: spacing unit {profile.unit.name.lower()}, value "
            f"0x{profile.spacing:02X} is not monthly",
            offset=record.offset,
        )
    return expand(profile, base_date, Direction.BACKWARD_TO_BASE)[::-1]


# -- the drivers ---------------------------------------------------------------------------


class TechemFhkvDataIV(_Named):
    """``fhkvdataiv``: current and billing-date HCA, and the monthly profile."""

    def __init__(self) -> None:
        super().__init__(
            "fhkvdataiv",
            (("TCH", 0x69, 0x08), ("TCH", 0x94, 0x08)),
            {
                "current_consumption_hca": (VifRange.HCA, 0),
                "set_date": (VifRange.DATE, 1),
                "consumption_at_set_date_hca": (VifRange.HCA, 1),
                "set_date_8": (VifRange.DATE, 8),
                "consumption_at_set_date_8_hca": (VifRange.HCA, 8),
            },
        )

    def extra(self, telegram: Telegram, generic: Fields) -> Fields:
        """The monthly HCA profile after the storage 8 date."""
        base = generic.get("set_date_8")
        profile = next(
            (r for r in telegram.records if _is_profile(r) and r.vif_range is VifRange.HCA), None
        )
        if profile is None or not isinstance(base, str):
            return {}
        out: Fields = {}
        for n, (date, value) in enumerate(monthly_profile(profile, base), start=1):
            out[f"consumption_at_set_date_{n}_hca"] = value
            out[f"consumption_at_set_date_{n}"] = date
        return out


def _vario411() -> MeterDriver:
    return _Named(
        "vario411",
        (("TCH", 0x28, 0x04),),
        {"target_kwh": (VifRange.ENERGY, 1), "target_date": (VifRange.DATE, 1)},
    )


def _vario451mid() -> MeterDriver:
    return _Named(
        "vario451mid",
        (("TCH", 0x17, 0x04),),
        {
            "total_energy_consumption_kwh": (VifRange.ENERGY, 0),
            "energy_at_old_date_kwh": (VifRange.ENERGY, 1),
            "old_date": (VifRange.DATE, 1),
            "energy_at_set_date_kwh": (VifRange.ENERGY, 8),
            "set_date": (VifRange.DATE, 8),
        },
    )


def _mkradio4a() -> MeterDriver:
    # The triples are those of the long TPL header's meter (the reference also lists the
    # link address of the radio converter, TCH 0x95 0x37, which is how these telegrams
    # arrive; it is claimed too, for a decoder that looks at the link address).
    return _Named(
        "mkradio4a",
        (("HYD", 0xFE, 0x06), ("WEH", 0xFE, 0x07), ("TCH", 0x95, 0x37)),
        {"target_m3": (VifRange.VOLUME, 1), "target_date": (VifRange.DATE, 1)},
    )


class _Proprietary(ExtendedDriver):
    """A Techem meter whose whole application data is Techem's (CI 0xA0-0xA2)."""

    def __init__(self, name: str, mvt: tuple[Mvt, ...], decode: Callable[[bytes], Fields]) -> None:
        super().__init__(name, mvt)
        self._decode = decode

    def extra(self, telegram: Telegram, generic: Fields) -> Fields:
        """The values of the Techem block, and ``media`` for Techem device types."""
        out = _media(telegram)
        data = telegram.manufacturer_data
        if data is not None:
            out.update(self._decode(data))
        return out


def _compact5(data: bytes) -> Fields:
    previous = uint_le(data, 3, 3, "compact5 previous period")
    current = uint_le(data, 7, 3, "compact5 current period")
    return {"total_kwh": previous + current, "current_kwh": current, "previous_kwh": previous}


def _mkradio3(data: bytes) -> Fields:
    need(data, 9, "mkradio3 data")
    previous = uint_le(data, 1, 2, "mkradio3 previous date")
    target = uint_le(data, 3, 2, "mkradio3 previous volume") / 10
    current_raw = uint_le(data, 5, 2, "mkradio3 current date")
    current = uint_le(data, 7, 2, "mkradio3 current volume") / 10
    prev_day, prev_month, prev_year = previous & 0x1F, (previous >> 5) & 0x0F, previous >> 9
    day, month = (current_raw >> 4) & 0x1F, (current_raw >> 9) & 0x0F
    rolled = month < prev_month or (month == prev_month and day <= prev_day)
    return {
        "total_m3": round(target + current, 6),
        "target_m3": target,
        "current_date": iso_date(2000 + prev_year + rolled, month, day),
        "prev_date": iso_date(2000 + prev_year, prev_month, prev_day),
    }


DRIVERS: tuple[MeterDriver, ...] = (
    _Proprietary(
        "compact5",
        (
            ("TCH", 0x45, 0x04),
            ("TCH", 0x45, 0xC3),
            ("TCH", 0x22, 0x43),
            ("TCH", 0x45, 0x43),
            ("TCH", 0x39, 0x43),
        ),
        _compact5,
    ),
    _Proprietary("mkradio3", (("TCH", 0x74, 0x62), ("TCH", 0x74, 0x72)), _mkradio3),
    _vario411(),
    _vario451mid(),
    _mkradio4a(),
    TechemFhkvDataIV(),
)
