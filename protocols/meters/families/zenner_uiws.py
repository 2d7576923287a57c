"""Zenner IUWS ultrasonic water meter (driver ``uiws``; ZRI, version 0x99, type 0x07).

Facts (triple, field names, which record each comes from) as documented by wmbusmeters'
driver definition drivers/src/uiws.xmq; the profile layout is the OMS compact profile
(EN 13757-3 annex on compact profiles), as :mod:`protocols.meters.families.zenner_caltos`
describes it, checked against our test vector.

The meter sends standard records (read by the generic driver: ``total_m3``,
``meter_datetime``, the temperatures, the error flags) and:

- storage 1 volume: a value the reference does not explain, printed as ``unknown_m3``;
- storage 30 date and volume: the base of the monthly history (``target_date``,
  ``target_m3``, the most recent month start);
- ``8D 0F 93 13``: DIF 0x8D (variable length, DIFE 0x0F: storage 30), VIF 0x93 (volume,
  litres), VIFE 0x13: an inverse compact profile of signed 32-bit volumes, month n
  before the base date in slot n (``target_<n>_m3``, dated ``target_<n>_date``).

Signed 32-bit volumes of 0x80000000 (-2147483.648 m3) are this meter's "no value" marker
and print as ``null``.
"""

from __future__ import annotations

import contextlib

from protocols.errors import DecodeError
from protocols.meters.base import Fields, FieldValue, MeterDriver, Mvt
from protocols.meters.families.zenner_caltos import (
    INVERSE_COMPACT_PROFILE,
    inverse_profile,
    months_before,
)
from protocols.meters.mfct import generic_fields_without
from protocols.records.model import Function, Record, VifRange
from protocols.records.vif_tables import PRIMARY
from protocols.telegram import Telegram

MVT: tuple[Mvt, ...] = (("ZRI", 0x99, 0x07),)

_UNKNOWN_STORAGE = 1
_BASE_STORAGE = 30

# The smallest signed 32-bit integer: no value.
_NO_VALUE = -(2**31)

# Spacing control (first profile byte): bits 0-3 the data field code, bits 4-5 the
# spacing unit (3: months); spacing value (second byte) 0xFE: one month.
_CODE_INT32 = 0x4
_UNIT_MONTHS = 0x3
_ONE_MONTH = 0xFE


def _is_profile(record: Record) -> bool:
    return INVERSE_COMPACT_PROFILE in (c & 0x7F for c in record.combinables)


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


def _vif(record: Record) -> int:
    """The record's VIF: the first header byte after the DIF and its DIFEs."""
    header = record.header
    pos = 0
    while pos < len(header) - 1 and header[pos] & 0x80:
        pos += 1
    return header[pos + 1] if pos + 1 < len(header) else 0xFF


def profile_fields(record: Record, base_date: FieldValue) -> Fields:
    """``target_<n>_m3`` and ``target_<n>_date`` of the monthly volume profile.

    Only a profile of signed 32-bit values is read (the only kind these meters are
    known to send); anything else gives ``{}``. The dates need a base date.
    """
    raw = record.raw
    if not isinstance(raw, bytes) or len(raw) < 2 or raw[0] & 0x0F != _CODE_INT32:
        return {}
    # The scale of a primary volume VIF (an extension table VIF is not expected here).
    scale = PRIMARY[_vif(record) & 0x7F]
    if scale.vif_range is not VifRange.VOLUME:
        return {}
    monthly = (raw[0] >> 4) & 0x03 == _UNIT_MONTHS and raw[1] == _ONE_MONTH
    out: Fields = {}
    for n, unsigned in enumerate(inverse_profile(record), start=1):
        if unsigned is None:
            continue
        # inverse_profile reads binary values unsigned; these are two's complement.
        value = unsigned - 2**32 if unsigned >= 2**31 else unsigned
        out[f"target_{n}_m3"] = (
            None if value == _NO_VALUE else round(value * scale.num / scale.den, 6)
        )
        if monthly and isinstance(base_date, str):
            out[f"target_{n}_date"] = months_before(base_date, n)
    return out


class ZennerUiws:
    """``uiws``: the generic fields, the profile base and the monthly volume history."""

    def __init__(self) -> None:
        self._mvt = frozenset(MVT)
        self.aliases: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The driver's name as printed in ``meter``."""
        return "uiws"

    @property
    def mvt(self) -> frozenset[Mvt]:
        """The (manufacturer, version, device type) triples this driver serves."""
        return self._mvt

    @property
    def compact_layouts(self) -> tuple[bytes, ...]:
        """None known: these meters send full frames."""
        return ()

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
