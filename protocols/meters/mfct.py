"""Shared ground for drivers that add manufacturer-specific values to the generic fields.

Many meters send their main readings as standard records (which the generic OMS driver
already names) and the rest in a manufacturer-specific block (DIF 0x0F / 0x1F, or a record
with VIF 0xFF) whose layout only the manufacturer defines. :class:`ExtendedDriver` gives
such a driver the generic fields and adds what its :meth:`~ExtendedDriver.extra` decodes.

A manufacturer block that is too short or holds impossible values must not cost the user
the standard readings: ``extra`` raises a :class:`~protocols.errors.DecodeError` subclass
and the driver degrades to the generic fields.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import replace

from protocols.errors import DecodeError, TruncatedError
from protocols.meters.base import Fields, Mvt
from protocols.meters.generic import GenericDriver
from protocols.records.model import Record
from protocols.telegram import Telegram

_GENERIC = GenericDriver()

# DIF 0x0F: manufacturer data to the end; 0x1F: the same, and more records follow.
_MANUFACTURER_DIFS = (b"\x0f", b"\x1f")


class ExtendedDriver(ABC):
    """The generic fields plus the values of :meth:`extra` (subclasses define it)."""

    def __init__(self, name: str, mvt: tuple[Mvt, ...], aliases: tuple[str, ...] = ()) -> None:
        self._name = name
        self._mvt = frozenset(mvt)
        self.aliases = aliases

    @property
    def name(self) -> str:
        """The driver's name as printed in ``meter``."""
        return self._name

    @property
    def mvt(self) -> frozenset[Mvt]:
        """The (manufacturer, version, device type) triples this driver serves."""
        return self._mvt

    @property
    def compact_layouts(self) -> tuple[bytes, ...]:
        """None: these meters send full frames."""
        return ()

    def fields(self, telegram: Telegram) -> Fields:
        """The generic fields, with the manufacturer-specific ones added (or replacing)."""
        out = _GENERIC.fields(telegram)
        try:
            extra = self.extra(telegram, out)
        except DecodeError:
            return out  # a malformed manufacturer block: keep the standard readings
        out.update(extra)
        return out

    @abstractmethod
    def extra(self, telegram: Telegram, generic: Fields) -> Fields:
        """The manufacturer-specific fields; ``generic`` may be edited (renames)."""


def manufacturer_block(telegram: Telegram) -> bytes | None:
    """The bytes after DIF 0x0F / 0x1F, or ``None`` when the telegram has no such block."""
    for record in telegram.records:
        if record.header in _MANUFACTURER_DIFS:
            return record.data
    return None


def record_by_key(telegram: Telegram, key: str) -> Record | None:
    """The first record whose DIF/VIF header is ``key`` (upper-case hex), if any."""
    for record in telegram.records:
        if record.key == key:
            return record
    return None


def need(data: bytes, size: int, what: str) -> None:
    """Raise :class:`TruncatedError` unless ``data`` holds at least ``size`` bytes."""
    if len(data) < size:
        raise TruncatedError(f"{what}: {size} bytes needed, {len(data)} present")


def uint_le(data: bytes, pos: int, size: int, what: str) -> int:
    """The unsigned little-endian integer of ``size`` bytes at ``pos`` (bounds checked)."""
    need(data, pos + size, what)
    return int.from_bytes(data[pos : pos + size], "little")


def sint_le(data: bytes, pos: int, size: int, what: str) -> int:
    """The signed (two's complement) little-endian integer of ``size`` bytes at ``pos``."""
    need(data, pos + size, what)
    return int.from_bytes(data[pos : pos + size], "little", signed=True)


def bcd_digits(value: int) -> int | None:
    """A byte read as two BCD digits (``0x25`` -> 25); ``None`` when a nibble is not 0-9."""
    high, low = value >> 4, value & 0x0F
    if high > 9 or low > 9:
        return None
    return high * 10 + low


def iso_date(year: int, month: int, day: int) -> str | None:
    """``YYYY-MM-DD``, or ``None`` when month or day is out of range (e.g. all zero)."""
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{year:04d}-{month:02d}-{day:02d}"


def generic_fields_without(telegram: Telegram, keys: frozenset[str]) -> Fields:
    """The generic fields of the records whose header is not in ``keys`` (plus status).

    For drivers that name some standard records themselves: the generic driver would
    otherwise name them too, under collision-qualified names.
    """
    rest = tuple(r for r in telegram.records if r.key not in keys)
    return _GENERIC.fields(replace(telegram, records=rest))


def packed_date(raw: int) -> str | None:
    """A 16-bit date packed as ``yyyyyyy mmmm ddddd`` (years since 2000), as several
    manufacturers send it in their own blocks; ``None`` when month or day is 0 or too big.
    """
    return iso_date(2000 + ((raw >> 9) & 0x7F), (raw >> 5) & 0x0F, raw & 0x1F)


def with_flag(status: object, flag: str) -> str:
    """A ``status`` text (``OK`` or sorted flags) with ``flag`` added, kept sorted A-Z."""
    flags = set() if status in (None, "", "OK") else set(str(status).split())
    flags.add(flag)
    return " ".join(sorted(flags))
