"""Zenner Caltos E heat cost allocators (driver ``caltose``, alias ``zennerhca``).

Facts (triple, field names, TPL status bit meanings) as documented by wmbusmeters' driver
definition drivers/src/caltose.xmq; the profile layout is the OMS compact profile (OMS
Vol. 2 / EN 13757-3 annex on compact profiles), checked against our test vectors.

The meters send the current value (storage 0), the last billing date and value
(storage 1), a base date and value (storage 8) and the monthly history as one record
``8D 04 EE 13``: DIF 0x8D (variable length, DIFE 0x04: storage 8), VIF 0xEE (HCA), VIFE
0x13, an *inverse* compact profile of absolute values (spacing control 0x3B: 6-digit BCD,
months; spacing 0xFE: one month): value n belongs to the base date minus n months. The
profile is read by :mod:`protocols.records.profile`; a value that is not valid BCD is an
empty slot and printed not at all, and a profile of increments is not read.
"""

from __future__ import annotations

from protocols.errors import DecodeError
from protocols.meters.base import Fields, FieldValue, MeterDriver
from protocols.meters.fieldspec import FieldSpec, Match, Quantity, field
from protocols.meters.lookup import BitLookup, join_status
from protocols.meters.specdriver import SpecDriver
from protocols.records.model import Record, VifRange
from protocols.records.profile import (
    INVERSE_COMPACT_PROFILE,
    Direction,
    IncrementMode,
    expand,
    parse_profile,
    profile_kind,
)
from protocols.telegram import Telegram

MVT = (("ZRI", 0xFC, 0x08),)

_BASE_STORAGE = 8

# The TPL status byte: bits 0-1 and 4 as EN 13757-7 defines them, the others as Zenner
# documents them for these meters.
_STATUS = BitLookup(
    "UNKNOWN",
    {
        0x01: "BUSY",
        0x02: "ERROR",
        0x04: "BATTERY_WARNING",
        0x08: "INVALID_METROLOGICAL_TABLE",
        0x10: "TEMPORARY_ERROR",
        0x20: "REMOVAL",
        0x40: "MODE_2F",
        0x80: "PRODUCT_SCALE",
    },
    mask=0xFF,
)

SPECS: tuple[FieldSpec, ...] = (
    field("consumption", Quantity.HCA, Match(VifRange.HCA), info="Current period units."),
    field("target_date", Quantity.DATE, Match(VifRange.DATE, storage=1), info="Last billing date."),
    field("target", Quantity.HCA, Match(VifRange.HCA, storage=1), info="Units at that date."),
    field(
        "base_date",
        Quantity.DATE,
        Match(VifRange.DATE, storage=_BASE_STORAGE),
        info="Base date of the monthly history (its most recent month end).",
    ),
    field(
        "base",
        Quantity.HCA,
        Match(VifRange.HCA, storage=_BASE_STORAGE),
        info="Units at the base date.",
    ),
)


def _profile(telegram: Telegram) -> Record | None:
    """The inverse compact profile of HCA values at the base storage number, if sent."""
    for record in telegram.records:
        if (
            record.vif_range is VifRange.HCA
            and record.storage == _BASE_STORAGE
            and profile_kind(record) == INVERSE_COMPACT_PROFILE
        ):
            return record
    return None


def profile_fields(telegram: Telegram, base_date: FieldValue) -> Fields:
    """``consumption_<n>_hca`` and ``consumption_<n>`` (its date) of the monthly profile.

    Only a profile of absolute values is read; an empty slot (no value) is left out, and
    the dates need the base date and a monthly spacing.
    """
    record = _profile(telegram)
    if record is None:
        return {}
    try:
        profile = parse_profile(record)
    except DecodeError:
        return {}
    if profile.mode is not IncrementMode.ABSOLUTE:
        return {}
    base = base_date if isinstance(base_date, str) else None
    out: Fields = {}
    for n, (date, value) in enumerate(expand(profile, base, Direction.BACKWARD), start=1):
        if value is None:
            continue
        out[f"consumption_{n}_hca"] = value
        if profile.months == 1 and base is not None:
            out[f"consumption_{n}"] = date
    return out


class Caltose(SpecDriver):
    """``caltose``: the standard records, the monthly profile and the TPL status flags."""

    def __init__(self) -> None:
        super().__init__("caltose", MVT, SPECS, aliases=("zennerhca",))

    def fields(self, telegram: Telegram) -> Fields:
        """Standard fields, then the profile's, then ``status``."""
        out = super().fields(telegram)
        out.update(profile_fields(telegram, out.get("base_date")))
        out["status"] = join_status([_STATUS(telegram.status or 0)])
        return out


DRIVERS: tuple[MeterDriver, ...] = (Caltose(),)
