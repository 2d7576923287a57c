"""Compact profiles: one data record holding a series of values (EN 13757-3, OMS Vol. 2).

A record is a compact profile when one of its combinable VIFEs (EN 13757-3 table 15)
announces one: 0x13 *inverse* compact profile, 0x1E compact profile with register numbers,
0x1F compact profile. Its data field is LVAR (DIF data field 0xD); the LVAR data is:

======  =========  ============================================================  ========
byte    bits       what                                                          verified
======  =========  ============================================================  ========
0       0-3        element data field code, as a DIF's: 1-4, 6, 7 binary         yes [1]
                   (1, 2, 3, 4, 6, 8 bytes), 9-C, E BCD (1, 2, 3, 4, 6 bytes)
0       4-5        spacing unit: 3 = months (with spacing value 0xFE); 0, 1, 2    3 only
                   seconds, minutes, hours as public descriptions give them
0       6-7        increment mode: 0 absolute values, 1 increments, 2             0, 1 [2]
                   decrements, 3 signed differences
1                  spacing value: 0xFE = one month; 1-250 that many spacing       0xFE
                   units; 0xFD (half a month?), 0xFF and 0xFB-0xFC: no date
                   is worked out; 0 is refused
2..                the elements, each of the element size, least significant      yes
                   byte first like the DIF's data field of the same code
======  =========  ============================================================  ========

The header bits are those of the spacing control byte of EN 13757-3 (annex on compact
profiles); [1] the vectors have 2-byte binary (Techem fhkvdataiv, control 0x72), 6-digit
BCD (Zenner Caltos E / QCaloric, 0x3B) and signed 32-bit binary (Zenner IUWS, 0x34)
elements; [2] mode 1 by fhkvdataiv, whose increments add up to its billing-date reading.

Values: a BCD element with a hex digit (``FF FF FF``) is "no value" (``None``), as in a
BCD data field. Binary elements are two's complement in modes 0 and 3 (measured values
are type B, annex A) and unsigned in modes 1 and 2 (increments and decrements are
magnitudes: unverified); the most negative value of a signed element (``0x80000000`` for
32 bits, verified by the IUWS vector; the same for the other sizes by analogy) is "no
value". :func:`expand` scales the elements like the record's own value (the VIF's unit and
scale, combinable correction factors included) but does not add up increments: a profile
of increments gives the increments.

Dates: the base time is the date record of the same storage number (see
:func:`base_date`). Where element ``k`` (1-based, in the order sent) lies depends on the
profile (:class:`Direction`): in an inverse profile (0x13) at base minus ``k`` spacings
(verified by the Caltos E and IUWS vectors); the fhkvdataiv profile (0x1F) runs newest
first and its *last* element is one spacing after the base (verified: the dates and sum
of that vector). Month arithmetic keeps a month end a month end (31 Oct + 1 = 30 Nov).

Data after the last whole element (a dangling byte) is not an error: the elements before
it are read and :attr:`CompactProfile.warnings` says so.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from enum import Enum, IntEnum

from protocols.errors import FormatError
from protocols.records.dif import BCD_FIELDS, DATA_LENGTH, INTEGER_FIELDS
from protocols.records.model import Record, VifRange
from protocols.records.parser import Header, _header_at, _scale
from protocols.records.values import decode_bcd
from protocols.records.vif_tables import (
    KIND_MANUFACTURER,
    KIND_NUMBER,
    KIND_PLAIN_TEXT,
    KIND_UNSIGNED,
)

INVERSE_COMPACT_PROFILE = 0x13
COMPACT_PROFILE_WITH_REGISTERS = 0x1E
COMPACT_PROFILE = 0x1F
# Combinable VIFEs (EN 13757-3 table 15) announcing a compact profile.
PROFILE_VIFES = frozenset(
    (INVERSE_COMPACT_PROFILE, COMPACT_PROFILE_WITH_REGISTERS, COMPACT_PROFILE)
)

ONE_MONTH = 0xFE  # spacing value standing for one month (with spacing unit 3)
_LARGEST_COUNT = 250  # spacing values above stand for something other than a count

# Quantity kinds whose elements are scaled like a number; unsigned kinds (identifiers,
# counters) and manufacturer VIFs are taken as sent; others (dates, Fahrenheit) refused.
_SCALED_KINDS = frozenset((KIND_NUMBER, KIND_PLAIN_TEXT))
_UNSCALED_KINDS = frozenset((KIND_UNSIGNED, KIND_MANUFACTURER))

ProfileValue = int | float | None


class SpacingUnit(IntEnum):
    """Spacing control bits 4-5 (only ``MONTHS`` is verified by vectors)."""

    SECONDS = 0
    MINUTES = 1
    HOURS = 2
    MONTHS = 3


class IncrementMode(IntEnum):
    """Spacing control bits 6-7 (``ABSOLUTE`` and ``INCREMENTS`` verified by vectors)."""

    ABSOLUTE = 0
    INCREMENTS = 1
    DECREMENTS = 2
    SIGNED_DIFFERENCES = 3


class Direction(Enum):
    """Where element ``k`` of ``n`` (1-based, in the order sent) lies from the base time."""

    BACKWARD = "backward"  # base - k spacings: inverse profile 0x13 (Caltos E, IUWS)
    FORWARD = "forward"  # base + k spacings (no vector shows it)
    BACKWARD_TO_BASE = "backward_to_base"  # base + (n + 1 - k) spacings (fhkvdataiv 0x1F)


@dataclass(frozen=True, slots=True)
class CompactProfile:
    """The parsed LVAR data of one compact-profile record.

    ``values`` are the elements decoded but not scaled (``None``: no value); ``header`` is
    the record's decoded header, whose unit and scale :func:`expand` applies.
    """

    kind: int
    element_field: int
    element_size: int
    unit: SpacingUnit
    spacing: int
    mode: IncrementMode
    elements: tuple[bytes, ...]
    values: tuple[int | None, ...]
    header: Header
    warnings: tuple[str, ...] = ()

    @property
    def bcd(self) -> bool:
        """Whether the elements are BCD (else binary integers)."""
        return self.element_field in BCD_FIELDS

    @property
    def signed(self) -> bool:
        """Whether binary elements are two's complement (modes 0 and 3)."""
        return self.mode in (IncrementMode.ABSOLUTE, IncrementMode.SIGNED_DIFFERENCES)

    @property
    def monthly(self) -> bool:
        """Whether the spacing is a whole number of months (dates can be worked out)."""
        return self.months is not None

    @property
    def months(self) -> int | None:
        """The spacing in months, or ``None`` when it is not whole months."""
        if self.unit is not SpacingUnit.MONTHS:
            return None
        if self.spacing == ONE_MONTH:
            return 1
        return self.spacing if self.spacing <= _LARGEST_COUNT else None


def profile_kind(record: Record) -> int | None:
    """The combinable VIFE announcing a compact profile in ``record`` (0x13, 0x1E, 0x1F),
    or ``None`` when the record is no compact profile."""
    for code in record.combinables:
        if code in PROFILE_VIFES:
            return code
    return None


def is_profile(record: Record) -> bool:
    """Whether ``record`` is a compact profile (see :func:`profile_kind`)."""
    return profile_kind(record) is not None


def default_direction(kind: int) -> Direction:
    """The direction established for a profile kind (module docstring)."""
    return Direction.BACKWARD if kind == INVERSE_COMPACT_PROFILE else Direction.BACKWARD_TO_BASE


def _element(chunk: bytes, bcd: bool, signed: bool) -> int | None:
    if bcd:
        return decode_bcd(chunk)
    value = int.from_bytes(chunk, "little", signed=signed)
    if signed and value == -(1 << (8 * len(chunk) - 1)):
        return None
    return value


def parse_profile(record: Record) -> CompactProfile:
    """The compact profile in ``record``; :class:`FormatError` for what cannot be read.

    Refused: a record that is no compact profile or not LVAR binary/text data, data
    shorter than the two header bytes, an unknown element size (a data field code with no
    fixed size: 0, 5, 8, D, F), a spacing value of 0, a quantity that is no plain number
    (a date, a Fahrenheit temperature). Data after the last whole element is a warning.
    """
    kind = profile_kind(record)
    if kind is None:
        raise FormatError("not a compact profile record", offset=record.offset)
    data = record.raw
    if not isinstance(data, bytes):
        raise FormatError("compact profile data is not binary LVAR data", offset=record.offset)
    if len(data) < 2:
        raise FormatError("compact profile without its spacing bytes", offset=record.offset)
    control, spacing = data[0], data[1]
    code = control & 0x0F
    if code not in INTEGER_FIELDS and code not in BCD_FIELDS:
        raise FormatError(
            f"compact profile: unknown element size (data field 0x{code:X})", offset=record.offset
        )
    if spacing == 0:
        raise FormatError("compact profile: spacing value 0", offset=record.offset)
    header = _header_at(record.header, 0)[1]
    if header.kind not in _SCALED_KINDS and header.kind not in _UNSCALED_KINDS:
        raise FormatError(
            f"compact profile of {header.vif_range.value} is not read", offset=record.offset
        )
    mode = IncrementMode(control >> 6)
    size = DATA_LENGTH[code]
    body = data[2:]
    count = len(body) // size
    elements = tuple(body[i * size : (i + 1) * size] for i in range(count))
    bcd = code in BCD_FIELDS
    signed = mode in (IncrementMode.ABSOLUTE, IncrementMode.SIGNED_DIFFERENCES)
    warnings: tuple[str, ...] = ()
    if len(body) % size:
        left = len(body) % size
        warnings = (
            f"compact profile: {left} byte{'s' if left > 1 else ''} after the last of its "
            f"{count} {size}-byte elements not read",
        )
    return CompactProfile(
        kind=kind,
        element_field=code,
        element_size=size,
        unit=SpacingUnit((control >> 4) & 0x03),
        spacing=spacing,
        mode=mode,
        elements=elements,
        values=tuple(_element(e, bcd, signed) for e in elements),
        header=header,
        warnings=warnings,
    )


def add_months(date: str, months: int, *, keep_month_end: bool = True) -> str | None:
    """``YYYY-MM-DD`` (a time after it is ignored) plus ``months`` (negative: minus).

    With ``keep_month_end`` a month end stays a month end (2019-10-31 + 1 = 2019-11-30,
    2020-02-29 - 1 = 2020-01-31), as profiles count billing periods; without it the day is
    only clamped to the month's length (2020-02-29 - 1 = 2020-01-29), as the meters whose
    drivers count history dates back from the meter's own date do. Another day is kept
    where the month has it, else the month's last day. ``None`` for a date that cannot be
    read.
    """
    try:
        year, month, day = (int(part) for part in date[:10].split("-"))
        last = calendar.monthrange(year, month)[1]
    except (ValueError, calendar.IllegalMonthError):
        return None
    if not 1 <= day <= last:
        return None
    index = year * 12 + month - 1 + months
    new_year, new_month0 = divmod(index, 12)
    if not 1 <= new_year <= 9999:
        return None
    new_last = calendar.monthrange(new_year, new_month0 + 1)[1]
    new_day = new_last if keep_month_end and day == last else min(day, new_last)
    return f"{new_year:04d}-{new_month0 + 1:02d}-{new_day:02d}"


def scaled(profile: CompactProfile, raw: int | None) -> ProfileValue:
    """An element in the record's canonical unit (as the parser scales the record)."""
    if raw is None:
        return None
    if profile.header.kind in _SCALED_KINDS:
        return _scale(raw, profile.header)
    return raw


def expand(
    profile: CompactProfile, base_date: str | None, direction: Direction | None = None
) -> list[tuple[str | None, ProfileValue]]:
    """(date, value) of each element, in the order sent.

    ``direction`` defaults to the one established for the profile's kind
    (:func:`default_direction`). Dates are ``None`` without a base date or when the
    spacing is not whole months; values are scaled (:func:`scaled`), ``None`` for none.
    """
    direction = default_direction(profile.kind) if direction is None else direction
    months = profile.months
    count = len(profile.values)
    out: list[tuple[str | None, ProfileValue]] = []
    for k, raw in enumerate(profile.values, start=1):
        date: str | None = None
        if months is not None and base_date is not None:
            if direction is Direction.BACKWARD:
                steps = -k
            elif direction is Direction.FORWARD:
                steps = k
            else:
                steps = count + 1 - k
            date = add_months(base_date, steps * months)
        out.append((date, scaled(profile, raw)))
    return out


def base_date(records: list[Record] | tuple[Record, ...], profile: Record) -> str | None:
    """The date of the profile's base: the first date (or date-time: its date) record of
    the same storage number, function, tariff and subunit; ``None`` if there is none."""
    for record in records:
        if (
            record.vif_range in (VifRange.DATE, VifRange.DATE_TIME)
            and record.storage == profile.storage
            and record.tariff == profile.tariff
            and record.subunit == profile.subunit
            and record.function is profile.function
            and not is_profile(record)
            and isinstance(record.value, str)
            and len(record.value) >= 10
        ):
            return record.value[:10]
    return None
