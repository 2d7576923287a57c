"""Building data records: the inverse of the parser, for tests and the meter simulator.

Two levels:

- :func:`encode_record` takes a complete header (``DIF [DIFE...] VIF [VIFE...]`` as bytes)
  and a *raw* value (what goes on the wire before scaling: the integer for integer and BCD
  fields, a float for real32, a ``str`` for LVAR text or for date/time VIFs, ``bytes`` for
  LVAR binary or manufacturer data) and returns header + data.
- :func:`encode_scaled` takes the value in the canonical unit the parser reports
  (``3.871`` m3 for VIF 0x13) and works out the raw integer.

:func:`build_header` makes the DIB from named fields, so a simulator can write
``encode_scaled(build_header(b"\\x13", 0x4, storage=1), 3.871)`` for "volume, storage 1,
int32, litres". :func:`encode_records` concatenates records; :func:`encode_profile` makes
a compact-profile record (protocols/records/profile.py) from a series of values. Parsing
what these build gives back the same header, fields and value (tests/protocols/
test_records_build.py and test_records_profile.py check this with hypothesis).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from fractions import Fraction

from protocols.records.dif import (
    BCD_FIELDS,
    DATA_LENGTH,
    DIF_MANUFACTURER,
    FIELD_LVAR,
    FIELD_REAL32,
    INTEGER_FIELDS,
    encode_dib,
)
from protocols.records.model import Function
from protocols.records.parser import Header, _decode_header, _scan_header
from protocols.records.values import encode_bcd, encode_date_time
from protocols.records.vif_tables import KIND_DATE, KIND_DATE_TIME

RawValue = int | float | str | bytes | None


def build_header(
    vib: bytes,
    data_field: int,
    *,
    function: Function = Function.INSTANTANEOUS,
    storage: int = 0,
    tariff: int = 0,
    subunit: int = 0,
) -> bytes:
    """DIF + DIFEs for these fields, followed by ``vib`` (VIF and VIFEs as sent)."""
    return encode_dib(data_field, function, storage, tariff, subunit) + bytes(vib)


def _header(dif_vif: bytes) -> Header:
    end = _scan_header(dif_vif, 0)
    if end != len(dif_vif):
        raise ValueError(f"{dif_vif.hex()} is not exactly one record header")
    return _decode_header(dif_vif, 0)


def _lvar(value: RawValue) -> bytes:
    """An LVAR field (length byte + data) for text, a BCD integer or binary bytes."""
    if isinstance(value, str):
        body = value.encode("latin-1")
        if len(body) > 0xBF:
            raise ValueError("LVAR text longer than 191 characters")
        return bytes((len(body),)) + body[::-1]
    if isinstance(value, int):
        negative = value < 0
        digits = len(str(abs(value)))
        nbytes = max(1, (digits + 1) // 2)
        if nbytes > 9:
            raise ValueError("LVAR BCD longer than 18 digits")
        body = encode_bcd(abs(value), nbytes)
        return bytes(((0xD0 if negative else 0xC0) + nbytes,)) + body
    if isinstance(value, bytes):
        n = len(value)
        if n <= 15:
            lb = 0xE0 + n
        elif n in (16, 20, 24, 28, 32):
            lb = 0xEC + n // 4
        elif n == 48:
            lb = 0xF5
        elif n == 64:
            lb = 0xF6
        else:
            raise ValueError(f"no LVAR length byte for {n} binary bytes")
        return bytes((lb,)) + value
    raise TypeError(f"cannot encode {type(value).__name__} as LVAR")


def encode_value(dif_vif: bytes, value: RawValue) -> bytes:
    """The data bytes of a record with header ``dif_vif`` holding the raw ``value``."""
    h = _header(dif_vif)
    field = h.data_field
    size = DATA_LENGTH[field]
    if field == FIELD_LVAR:
        return _lvar(value)
    if h.kind in (KIND_DATE, KIND_DATE_TIME) and isinstance(value, str):
        data = encode_date_time(value)
        if len(data) != size:
            raise ValueError(f"{value!r} needs {len(data)} bytes, data field gives {size}")
        return data
    if size == 0:
        return b""
    if isinstance(value, bytes):
        if len(value) != size:
            raise ValueError(f"data field needs {size} bytes, got {len(value)}")
        return value
    if field == FIELD_REAL32:
        if value is None or isinstance(value, str):
            raise TypeError("real32 needs a number")
        return struct.pack("<f", float(value))
    if not isinstance(value, int):
        raise TypeError(f"data field 0x{field:X} needs an integer, got {value!r}")
    if field in BCD_FIELDS:
        return encode_bcd(value, size)
    if field in INTEGER_FIELDS:
        signed = value < 0
        return value.to_bytes(size, "little", signed=signed)
    raise ValueError(f"data field 0x{field:X} cannot carry a value")


def encode_record(dif_vif: bytes, value: RawValue) -> bytes:
    """One record: ``dif_vif`` followed by the raw ``value`` encoded for its data field."""
    return bytes(dif_vif) + encode_value(dif_vif, value)


def encode_scaled(dif_vif: bytes, value: float | int) -> bytes:
    """One record holding ``value`` given in the canonical unit the parser reports.

    The raw number is ``value * den / num`` of the header's scale, rounded to an integer
    for integer and BCD fields (a real32 field keeps the fraction).
    """
    h = _header(dif_vif)
    raw = value * h.den / h.num
    if h.data_field == FIELD_REAL32:
        return encode_record(dif_vif, raw)
    return encode_record(dif_vif, round(raw))


def encode_manufacturer_data(data: bytes, *, more_follows: bool = False) -> bytes:
    """DIF 0x0F (or 0x1F: more records follow) and the manufacturer's bytes to the end."""
    return bytes((0x1F if more_follows else DIF_MANUFACTURER,)) + data


def encode_records(records: Iterable[tuple[bytes, RawValue]]) -> bytes:
    """Concatenate ``encode_record(header, value)`` for each (header, raw value) pair."""
    return b"".join(encode_record(h, v) for h, v in records)


def encode_profile(
    vib: bytes,
    values: Sequence[float | int | None],
    *,
    element_field: int = 0x4,
    kind: int = 0x13,
    unit: int = 3,
    spacing: int = 0xFE,
    mode: int = 0,
    function: Function = Function.INSTANTANEOUS,
    storage: int = 0,
    tariff: int = 0,
    subunit: int = 0,
    dangling: bytes = b"",
) -> bytes:
    """A compact-profile record: ``values`` (in the canonical unit, ``None``: no value) as
    elements of data field code ``element_field``, under the quantity ``vib`` (VIF and
    VIFEs without the profile VIFE ``kind``, which is appended: 0x13, 0x1E or 0x1F).

    ``unit`` / ``spacing`` / ``mode`` are the spacing control fields (protocols/records/
    profile.py); the LVAR length byte is the plain length, as meters send it. ``None``
    becomes the "no value" marker: hex digits for BCD, the most negative number for signed
    binary elements (modes 0 and 3; unsigned modes 1 and 2 have none). ``dangling`` bytes
    are appended after the elements (for tests of that warning).
    """
    if not vib or vib[0] & 0x7F == 0x7C:
        raise ValueError("encode_profile needs a VIF that is not a plain-text VIF")
    if element_field in BCD_FIELDS:
        bcd = True
    elif element_field in INTEGER_FIELDS:
        bcd = False
    else:
        raise ValueError(f"no compact profile element of data field 0x{element_field:X}")
    if not 0 <= unit <= 3 or not 0 <= mode <= 3 or not 0 <= spacing <= 0xFF:
        raise ValueError("spacing unit and mode are 2 bits, the spacing value a byte")
    full_vib = bytes(vib[:-1]) + bytes((vib[-1] | 0x80, kind))
    dib = encode_dib(FIELD_LVAR, function, storage, tariff, subunit)
    h = _header(dib + full_vib)
    size = DATA_LENGTH[element_field]
    signed = mode in (0, 3)
    body = bytearray((mode << 6 | unit << 4 | element_field, spacing))
    for value in values:
        if value is None:
            if bcd:
                body += b"\xff" * size
            elif signed:
                body += (1 << (8 * size - 1)).to_bytes(size, "little")
            else:
                raise ValueError("an unsigned (increment) profile element has no no-value marker")
            continue
        raw = round(Fraction(value) * h.den / h.num)  # exact, also for 64-bit integers
        if bcd:
            body += encode_bcd(raw, size)
            continue
        if signed and raw == -(1 << (8 * size - 1)):
            raise ValueError(f"{value} is the no-value marker of a {size}-byte element")
        try:
            body += raw.to_bytes(size, "little", signed=signed)
        except OverflowError as err:
            raise ValueError(f"{value} does not fit a {size}-byte element") from err
    body += dangling
    if len(body) > 0xBF:
        raise ValueError("compact profile longer than 191 bytes")
    return dib + full_vib + bytes((len(body),)) + bytes(body)
