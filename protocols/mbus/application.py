"""EN 13757-3 application layer of a wired slave's answer (the user data of a long frame).

What a slave answers to REQ_UD2, told apart by the CI field:

* ``0x72`` variable data: a 12-byte header (id 4 BCD digits-bytes, manufacturer 2,
  version 1, medium 1, access number 1, status 1, signature 2), then data records
  (:func:`protocols.records.parse_records`). Layout established from EN 13757-3 as public
  descriptions give it, and checked against every 0x72 frame of the libmbus test corpus
  (../shared/vectors/mbus_frames.jsonl: the ids, records and the existing wired decoder,
  protocols/wmbus/decoder.py ``_decode_wired``).
* ``0x76`` variable data, "mode 2": the same, most significant byte first. Established:
  libmbus names 0x76 ``MBUS_CONTROL_INFO_RESP_VARIABLE_MSB`` and 0x77
  ``MBUS_CONTROL_INFO_RESP_FIXED_MSB`` (mbus-protocol.h); the M-Bus documentation calls
  the two byte orders mode 1 (LSB first) and mode 2 (MSB first) and EN 13757-3 keeps only
  mode 1 for new designs. UNVERIFIED (no public 0x76 frame in the corpus, libmbus does
  not decode it): *which* fields are reversed. Here: the id, manufacturer and signature of
  the header and the data of every fixed-size numeric record (integer, BCD, real32,
  including date/time types); LVAR and manufacturer data are kept as sent.
* ``0x73`` fixed data (EN 13757-3 annex, formerly EN 1434-3): id (4 bytes BCD), access
  number, status, two medium/unit bytes, counter 1 (4 bytes), counter 2 (4 bytes).
  Established from the two 0x73 frames of the libmbus corpus, whose expected decodes
  libmbus gives: the medium is 4 bits, its low two bits in the top two bits of the first
  medium/unit byte and its high two bits in the top two bits of the second; the low six
  bits of each byte are the unit code of counter 1 and counter 2; status bit 7 clear means
  BCD counters (libmbus ``MBUS_DATA_FIXED_STATUS_FORMAT_BCD``). Verified values: medium
  4 = heat, 7 = water; unit 0x05 = kWh, 0x29 = l, 0x3E = "same but historic" (libmbus
  prints "reserved but historic"). UNVERIFIED: status bit 7 set = binary (little-endian
  unsigned) counters and bit 6 = counters stored at a fixed date (libmbus constants, no
  frame), the rest of the medium and unit tables (from the M-Bus documentation as
  remembered, not checked against a frame).
* ``0x77`` fixed data, mode 2: UNVERIFIED; the id and the counters are read MSB first,
  the two medium/unit bytes as in 0x73.
* ``0x70`` application error: one optional byte naming the error. Codes 0, 1, 2, 5, 6, 8
  and 9 are verified against the libmbus error frames of the corpus (and the frame
  without the byte is "unspecified" there too); 3, 4 and 7 come from public tables only.

A 0x70 answer is raised as :class:`ApplicationError`, a :class:`DecodeError` subclass,
rather than returned as a result: the answer carries no reading, every caller already
handles :class:`DecodeError` (nothing else escapes the parsers, the fuzz tests check it),
and an exception cannot be mistaken for an empty reading by a caller that forgets to look.
The poller tells "the slave is alive but refuses" from a garbled frame by catching
:class:`ApplicationError` first (``code`` and ``meaning`` name the error).

The answers of a multi-telegram readout (DIF 0x1F, "more records follow", at the end of
every answer but the last) are joined on decoded telegrams, where a tenant's key has undone
any encryption: ``bus.answer.merged_telegram``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from protocols.errors import DecodeError, FormatError, TruncatedError, UnsupportedError
from protocols.mbus.frames import LongFrame
from protocols.records import Record, more_records_follow, parse_records
from protocols.records.dif import BCD_FIELDS, DATA_LENGTH, FIELD_REAL32, INTEGER_FIELDS
from protocols.records.values import encode_bcd
from protocols.wmbus.address import manufacturer_code

CI_APPLICATION_ERROR: Final = 0x70
CI_VARIABLE: Final = 0x72
CI_VARIABLE_MSB: Final = 0x76
CI_FIXED: Final = 0x73
CI_FIXED_MSB: Final = 0x77
APPLICATION_CIS: Final = frozenset(
    (CI_APPLICATION_ERROR, CI_VARIABLE, CI_VARIABLE_MSB, CI_FIXED, CI_FIXED_MSB)
)

VARIABLE_HEADER_LENGTH: Final = 12
FIXED_DATA_LENGTH: Final = 16

_DIF_MORE_FOLLOWS: Final = b"\x1f"
_NUMERIC_FIELDS: Final = INTEGER_FIELDS | BCD_FIELDS | {FIELD_REAL32}

# EN 13757-3, CI 0x70: the application error byte.
APPLICATION_ERRORS: Final[dict[int, str]] = {
    0: "unspecified error",  # verified (libmbus corpus)
    1: "unimplemented CI field",  # verified
    2: "buffer too long, truncated",  # verified
    3: "too many records",  # public tables only
    4: "premature end of record",  # public tables only
    5: "more than 10 DIFEs",  # verified
    6: "more than 10 VIFEs",  # verified
    7: "reserved",  # public tables only
    8: "application too busy for handling the readout request",  # verified
    9: "too many readouts",  # verified
}

# Fixed data, the 4-bit medium. 4 and 7 verified (libmbus corpus); the rest UNVERIFIED.
FIXED_MEDIA: Final[dict[int, str]] = {
    0x0: "other",
    0x1: "oil",
    0x2: "electricity",
    0x3: "gas",
    0x4: "heat",
    0x5: "steam",
    0x6: "hot water",
    0x7: "water",
    0x8: "heat cost allocator",
    0x9: "reserved",
    0xA: "gas, mode 2",
    0xB: "heat, mode 2",
    0xC: "hot water, mode 2",
    0xD: "water, mode 2",
    0xE: "heat cost allocator, mode 2",
    0xF: "reserved",
}

# Fixed data, the 6-bit unit codes. 0x05, 0x29 and 0x3E verified (libmbus corpus); the
# rest UNVERIFIED (the M-Bus documentation's table as remembered).
FIXED_UNITS: Final[dict[int, str]] = {
    0x00: "h,min,s",
    0x01: "D,M,Y",
    **{
        0x02 + i: u
        for i, u in enumerate(
            [
                *("Wh", "10 Wh", "100 Wh", "kWh", "10 kWh", "100 kWh", "MWh", "10 MWh", "100 MWh"),
                *("kJ", "10 kJ", "100 kJ", "MJ", "10 MJ", "100 MJ", "GJ", "10 GJ", "100 GJ"),
                *("W", "10 W", "100 W", "kW", "10 kW", "100 kW", "MW", "10 MW", "100 MW"),
                *("kJ/h", "10 kJ/h", "100 kJ/h", "MJ/h", "10 MJ/h", "100 MJ/h"),
                *("GJ/h", "10 GJ/h", "100 GJ/h"),
                *("ml", "10 ml", "100 ml", "l", "10 l", "100 l", "m3", "10 m3", "100 m3"),
                *("ml/h", "10 ml/h", "100 ml/h", "l/h", "10 l/h", "100 l/h"),
                *("m3/h", "10 m3/h", "100 m3/h", "1e-3 C", "units for HCA"),
            ]
        )
    },
    0x3A: "reserved",
    0x3B: "reserved",
    0x3C: "reserved",
    0x3D: "reserved",
    0x3E: "same but historic",
    0x3F: "without units",
}

FIXED_STATUS_BINARY: Final = 0x80  # counters binary (set) or BCD (clear)
FIXED_STATUS_STORED: Final = 0x40  # counters stored at a fixed date (UNVERIFIED)


class ApplicationError(DecodeError):
    """The slave answered CI 0x70: an application error instead of data.

    ``code`` is the error byte (None when the slave sent none), ``meaning`` its name.
    """

    def __init__(self, code: int | None, *, offset: int | None = None) -> None:
        if code is None:
            meaning = "unspecified error (no error byte)"
        else:
            meaning = APPLICATION_ERRORS.get(code, f"reserved error code {code}")
        super().__init__(f"slave reports application error: {meaning}", offset=offset)
        self.code = code
        self.meaning = meaning


@dataclass(frozen=True, slots=True)
class VariableDataHeader:
    """The 12-byte header of CI 0x72 / 0x76. ``id`` is printed most significant digit
    first (non-decimal nibbles as hex digits); ``manufacturer`` is the raw M field."""

    id: str
    manufacturer: int
    version: int
    medium: int
    access_number: int
    status: int
    signature: int

    def __post_init__(self) -> None:
        if len(self.id) != 8 or any(c not in "0123456789ABCDEF" for c in self.id):
            raise FormatError(f"id must be 8 hex digits, not {self.id!r}")
        for name, value, top in (
            ("manufacturer", self.manufacturer, 0xFFFF),
            ("version", self.version, 0xFF),
            ("medium", self.medium, 0xFF),
            ("access_number", self.access_number, 0xFF),
            ("status", self.status, 0xFF),
            ("signature", self.signature, 0xFFFF),
        ):
            if not 0 <= value <= top:
                raise FormatError(f"{name} out of range: {value}")

    @property
    def manufacturer_code(self) -> str:
        """The three letters of the M field (``?`` for codes outside A-Z)."""
        return manufacturer_code(self.manufacturer)

    @property
    def identity(self) -> tuple[str, int, int, int]:
        """(id, manufacturer, version, medium): the secondary address of the slave."""
        return (self.id, self.manufacturer, self.version, self.medium)


@dataclass(frozen=True, slots=True)
class VariableData:
    """A variable-data answer: its header and records (``payload`` is the record block,
    in LSB-first order also for 0x76)."""

    ci: int
    header: VariableDataHeader
    records: tuple[Record, ...]
    payload: bytes

    @property
    def more_follows(self) -> bool:
        """The block ended in DIF 0x1F: request the next telegram (toggled FCB)."""
        return more_records_follow(self.records)


@dataclass(frozen=True, slots=True)
class FixedCounter:
    """One counter of a fixed-data answer: the raw value and its 6-bit unit code."""

    value: int
    unit_code: int

    @property
    def unit(self) -> str:
        """The unit's name (see :data:`FIXED_UNITS`; only some are verified)."""
        return FIXED_UNITS.get(self.unit_code, "reserved")


@dataclass(frozen=True, slots=True)
class FixedData:
    """A fixed-data answer (CI 0x73 / 0x77)."""

    ci: int
    id: str
    access_number: int
    status: int
    medium_code: int
    counters: tuple[FixedCounter, FixedCounter]

    @property
    def medium(self) -> str:
        """The medium's name (see :data:`FIXED_MEDIA`)."""
        return FIXED_MEDIA[self.medium_code]

    @property
    def binary_counters(self) -> bool:
        """Status bit 7: binary counters (UNVERIFIED), else BCD."""
        return bool(self.status & FIXED_STATUS_BINARY)


Application = VariableData | FixedData


# -- variable data ---------------------------------------------------------------------------


def parse_variable_header(data: bytes, *, msb_first: bool = False) -> VariableDataHeader:
    """The 12-byte header at the start of ``data``."""
    if len(data) < VARIABLE_HEADER_LENGTH:
        raise TruncatedError(
            f"variable data header needs {VARIABLE_HEADER_LENGTH} bytes, got {len(data)}",
            offset=len(data),
        )
    order = ">" if msb_first else "<"
    id_bytes, m, version, medium, access, status, signature = struct.unpack(
        order + "4sHBBBBH", data[:VARIABLE_HEADER_LENGTH]
    )
    printed = (id_bytes if msb_first else id_bytes[::-1]).hex().upper()
    return VariableDataHeader(printed, m, version, medium, access, status, signature)


def build_variable_header(header: VariableDataHeader, *, msb_first: bool = False) -> bytes:
    """The 12 wire bytes of a header (the inverse of :func:`parse_variable_header`)."""
    id_bytes = bytes.fromhex(header.id)
    order = ">" if msb_first else "<"
    return struct.pack(
        order + "4sHBBBBH",
        id_bytes if msb_first else id_bytes[::-1],
        header.manufacturer,
        header.version,
        header.medium,
        header.access_number,
        header.status,
        header.signature,
    )


def _swap_numeric_data(block: bytes, records: list[Record]) -> bytes:
    """The block with the data of every fixed-size numeric record reversed (MSB first to
    LSB first or back); record structure does not depend on the byte order."""
    out = bytearray(block)
    for rec in records:
        field = rec.header[0] & 0x0F
        if field in _NUMERIC_FIELDS and rec.header[:1] != _DIF_MORE_FOLLOWS:
            start = rec.offset + len(rec.header)
            size = DATA_LENGTH[field]
            out[start : start + size] = out[start : start + size][::-1]
    return bytes(out)


def parse_variable(ci: int, data: bytes) -> VariableData:
    """CI 0x72 / 0x76 user data: header and records."""
    msb_first = ci == CI_VARIABLE_MSB
    header = parse_variable_header(data, msb_first=msb_first)
    block = bytes(data[VARIABLE_HEADER_LENGTH:])
    try:
        records = parse_records(block)
        if msb_first:
            block = _swap_numeric_data(block, records)
            records = parse_records(block)
    except DecodeError as err:
        if err.offset is not None:
            err.offset += VARIABLE_HEADER_LENGTH
        raise err.with_sender(header.id, header.manufacturer_code) from None
    return VariableData(ci, header, tuple(records), block)


# -- fixed data ------------------------------------------------------------------------------


def _fixed_counter(raw: bytes, binary: bool) -> int:
    if binary:
        return int.from_bytes(raw, "little")
    digits = raw[::-1].hex()
    if not digits.isdigit():
        raise FormatError(f"fixed-data BCD counter holds {digits.upper()}")
    return int(digits)


def parse_fixed(ci: int, data: bytes) -> FixedData:
    """CI 0x73 / 0x77 user data: 16 bytes."""
    if len(data) < FIXED_DATA_LENGTH:
        raise TruncatedError(
            f"fixed data needs {FIXED_DATA_LENGTH} bytes, got {len(data)}", offset=len(data)
        )
    if len(data) > FIXED_DATA_LENGTH:
        raise FormatError("bytes after the fixed data", offset=FIXED_DATA_LENGTH)
    msb_first = ci == CI_FIXED_MSB
    id_bytes, access, status = data[0:4], data[4], data[5]
    mu1, mu2 = data[6], data[7]
    c1, c2 = data[8:12], data[12:16]
    if msb_first:
        id_bytes, c1, c2 = id_bytes[::-1], c1[::-1], c2[::-1]
    binary = bool(status & FIXED_STATUS_BINARY)
    meter_id = id_bytes[::-1].hex().upper()
    try:
        counters = (
            FixedCounter(_fixed_counter(c1, binary), mu1 & 0x3F),
            FixedCounter(_fixed_counter(c2, binary), mu2 & 0x3F),
        )
    except DecodeError as err:
        raise err.with_sender(meter_id, None) from None
    medium = (mu2 >> 6) << 2 | (mu1 >> 6)
    return FixedData(ci, meter_id, access, status, medium, counters)


def build_fixed(fixed: FixedData) -> bytes:
    """The 16 user-data bytes of a fixed-data answer (inverse of :func:`parse_fixed`)."""
    binary = bool(fixed.status & FIXED_STATUS_BINARY)

    def counter(value: int) -> bytes:
        raw = value.to_bytes(4, "little") if binary else encode_bcd(value, 4)
        return raw[::-1] if fixed.ci == CI_FIXED_MSB else raw

    id_bytes = bytes.fromhex(fixed.id)[::-1]
    if fixed.ci == CI_FIXED_MSB:
        id_bytes = id_bytes[::-1]
    mu1 = (fixed.medium_code & 0x3) << 6 | fixed.counters[0].unit_code
    mu2 = (fixed.medium_code >> 2) << 6 | fixed.counters[1].unit_code
    return (
        id_bytes
        + bytes((fixed.access_number, fixed.status, mu1, mu2))
        + counter(fixed.counters[0].value)
        + counter(fixed.counters[1].value)
    )


# -- the answer ------------------------------------------------------------------------------


def parse_user_data(ci: int, data: bytes) -> Application:
    """The application layer of a slave's answer with this CI and user data.

    Raises :class:`ApplicationError` for CI 0x70, :class:`UnsupportedError` for a CI that
    is not a slave's data answer, other :class:`DecodeError` subclasses for bad data.
    """
    data = bytes(data)
    if ci == CI_APPLICATION_ERROR:
        if len(data) > 1:
            raise FormatError("application error carries at most one byte", offset=1)
        raise ApplicationError(data[0] if data else None, offset=0)
    if ci in (CI_VARIABLE, CI_VARIABLE_MSB):
        return parse_variable(ci, data)
    if ci in (CI_FIXED, CI_FIXED_MSB):
        return parse_fixed(ci, data)
    raise UnsupportedError(f"CI 0x{ci:02X} is not a slave's data answer")


def parse_application(frame: LongFrame) -> Application:
    """The application layer of a parsed long (or control) frame."""
    return parse_user_data(frame.CI, frame.data)
