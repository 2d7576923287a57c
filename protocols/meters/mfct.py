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
from collections.abc import Iterable
from dataclasses import replace

from protocols.errors import DecodeError, TruncatedError
from protocols.meters.base import Fields, FieldValue, Mvt
from protocols.meters.fieldspec import Attr, FieldSpec, Match, Quantity, field
from protocols.meters.generic import GenericDriver
from protocols.meters.lookup import BitLookup, tpl_status_flags
from protocols.records.model import Function, Record, VifRange
from protocols.records.profile import add_months
from protocols.telegram import Telegram

_GENERIC = GenericDriver()

# DIF 0x0F: manufacturer data to the end; 0x1F: the same, and more records follow.
_MANUFACTURER_DIFS = (b"\x0f", b"\x1f")

# The error flags of meters that publish no meaning for their bits: each set bit is
# reported as ERROR_FLAGS_<HEX>.
_UNNAMED_ERROR_FLAGS = BitLookup("ERROR_FLAGS", {}, mask=0xFFFF, default="OK")

# TPL status byte (EN 13757-3/-7): bits 0-4 are the standard's (application status and
# three flags), bits 5-7 are left to the manufacturer.
TPL_STANDARD_BITS = 0x1F
TPL_MANUFACTURER_BITS = 0xE0


class NamedDriver:
    """What the registry asks of every driver besides its fields: the name, the
    (manufacturer, version, device type) triples and the aliases. No compact layouts: the
    meters of these drivers send full frames."""

    def __init__(self, name: str, mvt: Iterable[Mvt], aliases: tuple[str, ...] = ()) -> None:
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


class ExtendedDriver(NamedDriver, ABC):
    """The generic fields plus the values of :meth:`extra` (subclasses define it)."""

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


def months_before(date: str | None, months: int) -> str | None:
    """``YYYY-MM-DD`` ``months`` calendar months before ``date``, the day clamped to the
    length of that month; ``None`` when ``date`` is not such a date."""
    if date is None:
        return None
    return add_months(date, -months, keep_month_end=False)


def tpl_flags_named(status: int | None, manufacturer: BitLookup) -> list[str]:
    """The flags of a TPL status byte, its manufacturer bits (5-7) named by
    ``manufacturer`` (bits it does not name as ``<its name>_<HEX>``); ``[]`` when the byte
    is absent or 0."""
    if not status:
        return []
    return [
        *tpl_status_flags(status & TPL_STANDARD_BITS),
        *manufacturer.flags(status & TPL_MANUFACTURER_BITS),
    ]


def record_number(record: Record) -> FieldValue:
    """A record's value as the drivers print numbers: a float to six decimals, an integer
    as it is, anything else (invalid, not a number) ``None``."""
    value = record.value
    if isinstance(value, float):
        return round(value, 6)
    return value if isinstance(value, int) else None


def is_plain(record: Record) -> bool:
    """An instantaneous reading of tariff 0 and subunit 0 without combinable VIFEs, in any
    storage: a register's plain value (not its maximum, a tariff or an input's)."""
    return (
        record.function is Function.INSTANTANEOUS
        and record.tariff == 0
        and record.subunit == 0
        and not record.combinables
    )


def is_current_register(record: Record) -> bool:
    """A plain reading (:func:`is_plain`) of storage 0 without manufacturer VIFEs: the
    register's value now."""
    return is_plain(record) and record.storage == 0 and not record.manufacturer_vifes


def storage_history(telegram: Telegram, vif: VifRange, storages: range) -> dict[int, FieldValue]:
    """Storage number -> value (:func:`record_number`) of the first plain ``vif`` record
    (:func:`is_plain`) of each storage in ``storages``, in the order the telegram sends
    them: the history registers a meter keeps for earlier periods."""
    out: dict[int, FieldValue] = {}
    for record in telegram.records:
        if (
            record.vif_range is vif
            and record.storage in storages
            and record.storage not in out
            and is_plain(record)
        ):
            out[record.storage] = record_number(record)
    return out


def error_flags_status(lookup: BitLookup = _UNNAMED_ERROR_FLAGS, *, tpl: bool = False) -> FieldSpec:
    """``status`` from the standard error flags record (VIF FD 17) through ``lookup`` (by
    default 16 bits, none of them named); ``tpl``: with the flags of the TPL status byte."""
    attrs = Attr.STATUS | Attr.INCLUDE_TPL_STATUS if tpl else Attr.STATUS
    return field("status", Quantity.TEXT, Match(VifRange.ERROR_FLAGS), lookup=lookup, attrs=attrs)
