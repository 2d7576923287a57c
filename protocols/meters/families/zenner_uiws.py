"""Zenner IUWS ultrasonic water meter (driver ``uiws``; ZRI, version 0x99, type 0x07).

Facts (triple, field names, which record each comes from) as documented by wmbusmeters'
driver definition drivers/src/uiws.xmq; the profile layout is the OMS compact profile
(EN 13757-3 annex on compact profiles), read by :mod:`protocols.records.profile`, checked
against our test vector.

The meter sends standard records (read by the generic driver: ``total_m3``,
``meter_datetime``, the temperatures, the error flags) and:

- storage 1 volume: a value the reference does not explain, printed as ``unknown_m3``;
- storage 30 date and volume: the base of the monthly history (``target_date``,
  ``target_m3``, the most recent month start);
- ``8D 0F 93 13``: DIF 0x8D (variable length, DIFE 0x0F: storage 30), VIF 0x93 (volume,
  litres), VIFE 0x13: an inverse compact profile of signed 32-bit volumes, month n
  before the base date in slot n (``target_<n>_m3``, dated ``target_<n>_date``).

Signed 32-bit volumes of 0x80000000 (-2147483.648 m3) are this meter's "no value" marker
and print as ``null`` (in the profile too: the shared profile reader knows the marker).
"""

from __future__ import annotations

import contextlib

from protocols.errors import DecodeError
from protocols.meters.base import Fields, FieldValue, MeterDriver, Mvt
from protocols.meters.mfct import NamedDriver, generic_fields_without
from protocols.records.model import Function, Record, VifRange
from protocols.records.profile import (
    INVERSE_COMPACT_PROFILE,
    Direction,
    expand,
    parse_profile,
    profile_kind,
)
from protocols.telegram import Telegram

MVT: tuple[Mvt, ...] = (("ZRI", 0x99, 0x07),)

_UNKNOWN_STORAGE = 1
_BASE_STORAGE = 30

# The smallest signed 32-bit integer: no value.
_NO_VALUE = -(2**31)

# The only element kind these meters are known to send: signed 32-bit binary (data field
# code 4 in the spacing control byte).
_CODE_INT32 = 0x4


def _is_profile(record: Record) -> bool:
    return profile_kind(record) == INVERSE_COMPACT_PROFILE


def _plain(record: Record, vif_range: VifRange, storage: int) -> bool:
    return (
        record.vif_range is vif_range
        and record.storage == storage
        and record.function is Function.INSTANTANEOUS
        and record.tariff == 0
        and record.subunit == 0
        and not _is_profile(record)
    )


def _volume(record: Record) -> FieldValue:
    """The volume in m3, ``None`` for the no-value marker."""
    if record.raw == _NO_VALUE or not isinstance(record.value, int | float):
        return None
    return round(record.value, 6)


def profile_fields(record: Record, base_date: FieldValue) -> Fields:
    """``target_<n>_m3`` and ``target_<n>_date`` of the monthly volume profile.

    Only a volume profile of signed 32-bit values is read (the only kind these meters are
    known to send); anything else gives ``{}``. The dates need a base date and a monthly
    spacing. Raises :class:`DecodeError` for a profile that cannot be read.
    """
    profile = parse_profile(record)
    if profile.element_field != _CODE_INT32 or record.vif_range is not VifRange.VOLUME:
        return {}
    base = base_date if isinstance(base_date, str) else None
    out: Fields = {}
    for n, (date, value) in enumerate(expand(profile, base, Direction.BACKWARD), start=1):
        out[f"target_{n}_m3"] = None if value is None else round(value, 6)
        if profile.months == 1 and base is not None:
            out[f"target_{n}_date"] = date
    return out


class ZennerUiws(NamedDriver):
    """``uiws``: the generic fields, the profile base and the monthly volume history."""

    def __init__(self) -> None:
        super().__init__("uiws", MVT)

    def fields(self, telegram: Telegram) -> Fields:
        """Generic fields of the other records, then the named ones and the profile."""
        named: Fields = {}
        used: set[str] = set()
        profile: Record | None = None
        for record in telegram.records:
            if record.key in used:
                continue
            if _plain(record, VifRange.VOLUME, _UNKNOWN_STORAGE) and "unknown_m3" not in named:
                named["unknown_m3"] = _volume(record)
            elif _plain(record, VifRange.DATE, _BASE_STORAGE) and "target_date" not in named:
                date = record.value
                named["target_date"] = date if isinstance(date, str) else None
            elif _plain(record, VifRange.VOLUME, _BASE_STORAGE) and "target_m3" not in named:
                named["target_m3"] = _volume(record)
            elif (
                profile is None
                and record.vif_range is VifRange.VOLUME
                and record.storage == _BASE_STORAGE
                and _is_profile(record)
            ):
                profile = record
            else:
                continue
            used.add(record.key)
        out = generic_fields_without(telegram, frozenset(used))
        out.update(named)
        if profile is not None:
            with contextlib.suppress(DecodeError):  # a malformed profile: keep the rest
                out.update(profile_fields(profile, named.get("target_date")))
        return out


UIWS = ZennerUiws()

DRIVERS: tuple[MeterDriver, ...] = (UIWS,)
