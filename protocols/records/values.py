"""Data-field decoders of EN 13757-3 annex A: BCD (type A), dates and times (types F, G, I,
J), and the LVAR length byte (clause 6.3.3, table 5).

All functions are total on their input sizes: a value the meter marked invalid, or that is
not a valid BCD/date, comes back as ``None`` rather than raising, because one bad field
should not cost the operator every other value of the telegram.
"""

from __future__ import annotations

import struct

from protocols.errors import UnsupportedError

_F32 = struct.Struct("<f")


def shortest_float32(data: bytes) -> float:
    """The IEEE-754 single (type H) in ``data`` as the shortest decimal that is the same
    single: ``0.0845838263630867`` (its exact double value) becomes ``0.08458383``.
    """
    value: float = _F32.unpack(data)[0]
    if value != value or value in (float("inf"), float("-inf")):
        return value
    for digits in range(6, 10):
        short = float(f"{value:.{digits}g}")
        if _F32.pack(short) == data:
            return short
    return value


def is_printable(data: bytes) -> bool:
    """Whether ``data`` is printable ASCII (an LVAR "text" that really is text)."""
    return all(0x20 <= b < 0x7F for b in data)


def decode_bcd(data: bytes) -> int | None:
    """A little-endian packed BCD number (type A); ``None`` when a nibble is not a digit.

    A top nibble of 0xF marks a negative number (EN 13757-3 annex A, as meters in the field
    and libmbus use it): ``F1 23`` sent as ``23 F1`` is -123.
    """
    if not data:
        return 0
    # The digits most significant first are the bytes reversed, in hex: one C-level pass
    # (the corpus's records are a third BCD; a loop over the bytes cost most of them).
    digits = data[::-1].hex()
    if digits.isdigit():
        return int(digits)
    if digits[0] == "f" and digits[1:].isdigit():
        return -int(digits[1:])
    return None


def encode_bcd(value: int, nbytes: int) -> bytes:
    """``value`` as ``nbytes`` of little-endian BCD, negatives with a 0xF top nibble."""
    negative = value < 0
    digits = str(-value if negative else value)
    width = nbytes * 2 - (1 if negative else 0)
    if len(digits) > width:
        raise ValueError(f"{value} does not fit in {nbytes} BCD bytes")
    text = ("F" if negative else "") + digits.rjust(width, "0")
    return bytes.fromhex(text)[::-1]


def _year(two_digit: int) -> int:
    """Year from the 7-bit split year field: <= 80 is 20xx, else 19xx (as libmbus reads it).

    The "hundred year" bits of type F are ignored on purpose: meters in the field set them
    carelessly (a real UIWS meter sends 2026 with hundred-year = 2), and every reader we
    know ignores them too.
    """
    return 2000 + two_digit if two_digit <= 80 else 1900 + two_digit


def _date_g(b0: int, b1: int) -> str | None:
    """Type G date from its two bytes; None when the month or day is out of range."""
    day = b0 & 0x1F
    month = b1 & 0x0F
    if month == 0 or month > 12 or day == 0:
        return None
    year = ((b0 & 0xE0) >> 5) | ((b1 & 0xF0) >> 1)
    return f"{_year(year):04d}-{month:02d}-{day:02d}"


def decode_date(data: bytes) -> str | None:
    """A date (VIF 6C) from a type G (2 bytes), F (4) or I (6) field: ``YYYY-MM-DD``."""
    n = len(data)
    if n == 2:
        return _date_g(data[0], data[1])
    full = decode_date_time(data)
    return None if full is None or len(full) < 10 else full[:10]


def decode_date_time(data: bytes) -> str | None:
    """Date and time (VIF 6D): type F (4 bytes) ``YYYY-MM-DD HH:MM``, type I (6 bytes)
    ``YYYY-MM-DD HH:MM:SS``, type J (3 bytes, time only) ``HH:MM:SS``, type G (2 bytes)
    ``YYYY-MM-DD``. ``None`` when the invalid bit (IV) is set or a field is out of range.
    """
    n = len(data)
    if n == 4:  # type F: min|IV, hour|hundred-year|SU, day|year, month|year
        if data[0] & 0x80:
            return None
        minute = data[0] & 0x3F
        hour = data[1] & 0x1F
        date = _date_g(data[2], data[3])
        if date is None or minute > 59 or hour > 23:
            return None
        return f"{date} {hour:02d}:{minute:02d}"
    if n == 6:  # type I: sec, min|IV, hour|day-of-week, day|year, month|year, week
        if data[1] & 0x80:
            return None
        second = data[0] & 0x3F
        minute = data[1] & 0x3F
        hour = data[2] & 0x1F
        date = _date_g(data[3], data[4])
        if date is None or second > 59 or minute > 59 or hour > 23:
            return None
        return f"{date} {hour:02d}:{minute:02d}:{second:02d}"
    if n == 3:  # type J: time of day
        second = data[0] & 0x3F
        minute = data[1] & 0x3F
        hour = data[2] & 0x1F
        if second > 59 or minute > 59 or hour > 23:
            return None
        return f"{hour:02d}:{minute:02d}:{second:02d}"
    if n == 2:
        return _date_g(data[0], data[1])
    return None


def _split_year(year: int) -> int:
    """The 7-bit year field for a year, inverse of :func:`_year` for century 0."""
    if 2000 <= year <= 2080:
        return year - 2000
    if 1981 <= year <= 1999:
        return year - 1900
    raise ValueError(f"year {year} cannot be encoded")


def encode_date_time(text: str) -> bytes:
    """Inverse of :func:`decode_date_time` / :func:`decode_date` for a valid string.

    ``YYYY-MM-DD`` -> type G, ``YYYY-MM-DD HH:MM`` -> type F, ``YYYY-MM-DD HH:MM:SS`` ->
    type I, ``HH:MM:SS`` -> type J.
    """
    if len(text) == 8 and text[2] == ":":
        hh, mm, ss = (int(x) for x in text.split(":"))
        return bytes((ss, mm, hh))
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    y = _split_year(year)
    g = bytes((day | ((y & 0x07) << 5), month | ((y & 0x78) << 1)))
    if len(text) == 10:
        return g
    hour, minute = int(text[11:13]), int(text[14:16])
    if len(text) == 16:
        return bytes((minute, hour)) + g
    second = int(text[17:19])
    return bytes((second, minute, hour)) + g + b"\x00"


# LVAR length byte -> (kind, data length). Kinds: 0 text, 1 positive BCD, 2 negative BCD,
# 3 binary. EN 13757-3 table 5; F7..FF reserved.
LVAR_TEXT = 0
LVAR_BCD = 1
LVAR_NEG_BCD = 2
LVAR_BINARY = 3


def _lvar_entry(lb: int) -> tuple[int, int] | None:
    if lb <= 0xBF:
        return (LVAR_TEXT, lb)
    if 0xC0 <= lb <= 0xC9:
        return (LVAR_BCD, lb - 0xC0)
    if 0xD0 <= lb <= 0xD9:
        return (LVAR_NEG_BCD, lb - 0xD0)
    if 0xE0 <= lb <= 0xEF:
        return (LVAR_BINARY, lb - 0xE0)
    if 0xF0 <= lb <= 0xF4:
        return (LVAR_BINARY, 4 * (lb - 0xEC))
    if lb == 0xF5:
        return (LVAR_BINARY, 48)
    if lb == 0xF6:
        return (LVAR_BINARY, 64)
    return None


_LVAR: tuple[tuple[int, int] | None, ...] = tuple(_lvar_entry(b) for b in range(256))


def lvar_kind(length_byte: int, offset: int) -> tuple[int, int]:
    """(kind, number of data bytes) for an LVAR length byte; reserved ones raise."""
    entry = _LVAR[length_byte]
    if entry is None:
        raise UnsupportedError(f"reserved LVAR length byte 0x{length_byte:02X}", offset=offset)
    return entry
