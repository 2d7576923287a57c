"""EN 13757-3 variable data records: full blocks, compact frames and header/data split.

A block is a sequence of ``DIF [DIFE...] VIF [VIFE...] data`` records (clause 6), with
0x2F idle fillers anywhere and optionally manufacturer data (DIF 0x0F / 0x1F) to the end.

Speed: headers repeat from telegram to telegram, so the meaning of a header (its DIB
fields, quantity, unit, scale, combinables) is computed once and cached by the header
bytes, with the data length and a value conversion made for that header (:class:`Plan`);
the per-record work is then a scan for the header's end, one dict lookup, one call and
the record's construction. Most headers are a DIF and a VIF without extensions: the walk
recognises those without the scan.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, NoReturn

from protocols.errors import DecodeError, FormatError, TruncatedError
from protocols.records.dif import (
    BCD_FIELDS,
    DATA_LENGTH,
    DIF_GLOBAL_READOUT,
    DIF_IDLE_FILLER,
    DIF_MANUFACTURER,
    DIF_MORE_FOLLOWS,
    FIELD_REAL32,
    FIELD_SPECIAL,
    INTEGER_FIELDS,
    MAX_DIFE,
    MAX_VIFE,
    decode_dib,
)
from protocols.records.model import Function, Record, RecordValue, VifRange
from protocols.records.values import (
    LVAR_BINARY,
    LVAR_NEG_BCD,
    LVAR_TEXT,
    decode_bcd,
    decode_date,
    decode_date_time,
    is_printable,
    lvar_kind,
    shortest_float32,
)
from protocols.records.vif_tables import (
    FB,
    FD,
    KIND_DATE,
    KIND_DATE_TIME,
    KIND_FAHRENHEIT,
    KIND_FAHRENHEIT_DIFF,
    KIND_MANUFACTURER,
    KIND_NUMBER,
    KIND_PLAIN_TEXT,
    KIND_UNSIGNED,
    PRIMARY,
    VIFE_MANUFACTURER,
    VifInfo,
    combinable_factor,
)

# Identifiers, bit fields and manufacturer numbers are unsigned; measured values are type B
# (signed two's complement), annex A.
_UNSIGNED_KINDS = frozenset((KIND_UNSIGNED, KIND_MANUFACTURER))


class Header(NamedTuple):
    """The decoded meaning of one record header (DIB + VIB), cached by its bytes."""

    data_field: int
    function: Function
    storage: int
    tariff: int
    subunit: int
    vif_range: VifRange
    unit: str
    num: int
    den: int
    kind: int
    combinables: tuple[int, ...]
    manufacturer_vifes: tuple[int, ...]


_UNKNOWN = VifInfo(VifRange.OTHER, "", 1, 1, KIND_UNSIGNED)


_tuple_new = tuple.__new__  # Record is a named tuple: made from its fields in order

Converted = tuple[RecordValue, int | float | bytes]  # (value, raw value)


class Plan(NamedTuple):
    """How to read the data of a record with one header: cached by the header's bytes."""

    header: Header
    size: int  # data bytes, -1 for LVAR
    convert: Callable[[bytes], Converted]  # fixed-size data -> (value, raw); LVAR: unused


def _converter(h: Header) -> Callable[[bytes], Converted]:
    """``_value`` for header ``h``, specialised where it is common: integers of a scaled
    quantity (most records) skip the checks that are the same for every record of it."""
    if h.data_field in INTEGER_FIELDS and h.kind in (KIND_NUMBER, KIND_PLAIN_TEXT):
        signed = h.kind not in _UNSIGNED_KINDS
        num, den = h.num, h.den
        from_bytes = int.from_bytes
        if den == 1 and num == 1:

            def unscaled(d: bytes) -> Converted:
                raw = from_bytes(d, "little", signed=signed)
                return raw, raw

            return unscaled
        if den == 1:

            def multiplied(d: bytes) -> Converted:
                raw = from_bytes(d, "little", signed=signed)
                return raw * num, raw

            return multiplied

        def divided(d: bytes) -> Converted:
            raw = from_bytes(d, "little", signed=signed)
            return raw * num / den, raw

        return divided

    if h.data_field in BCD_FIELDS and h.kind in (KIND_NUMBER, KIND_PLAIN_TEXT):
        num, den = h.num, h.den

        def bcd(d: bytes) -> Converted:
            raw = decode_bcd(d)
            if raw is None:  # hex digits in a BCD field: the meter's "no value" marker
                return None, d
            if den == 1:
                return (raw * num if num != 1 else raw), raw
            return raw * num / den, raw

        return bcd

    def general(d: bytes) -> Converted:
        return _value(h, d, 0)

    return general


_CACHE: dict[bytes, Plan] = {}
_CACHE_LIMIT = 4096  # bounded: random input must not grow it without end


def _scan_header(buf: bytes, pos: int) -> int:
    """End offset of the header starting at ``pos`` (DIF not special); raises on bad input."""
    n = len(buf)
    p = pos + 1
    b = buf[pos]
    count = 0
    while b & 0x80:  # DIFEs
        if p >= n:
            raise TruncatedError("record ends inside its DIFEs", offset=p)
        b = buf[p]
        p += 1
        count += 1
        if count > MAX_DIFE:
            raise FormatError("more than 10 DIFEs", offset=p - 1)
    if p >= n:
        raise TruncatedError("record has no VIF", offset=p)
    b = buf[p]
    p += 1
    if b & 0x7F == 0x7C:  # plain-text VIF: length byte and ASCII follow the VIF (6.4.3)
        if p >= n:
            raise TruncatedError("plain-text VIF without its length", offset=p)
        p += 1 + buf[p]
        if p > n:
            raise TruncatedError("plain-text VIF longer than the block", offset=n)
    count = 0
    while b & 0x80:  # VIFEs
        if p >= n:
            raise TruncatedError("record ends inside its VIFEs", offset=p)
        b = buf[p]
        p += 1
        count += 1
        if count > MAX_VIFE:
            raise FormatError("more than 10 VIFEs", offset=p - 1)
    return p


def _decode_header(header: bytes, offset: int) -> Header:
    """Work out what a header means (the slow path, cached by the caller)."""
    i = 1
    while header[i - 1] & 0x80:
        i += 1
    data_field, function, storage, tariff, subunit = decode_dib(header[:i])
    vif = header[i]
    v7 = vif & 0x7F
    rest = i + 1
    plain_unit = ""
    if v7 == 0x7C:
        length = header[rest]
        plain_unit = header[rest + 1 : rest + 1 + length][::-1].decode("latin-1")
        rest += 1 + length
    vifes = header[rest:]
    k = 0
    if v7 in (0x7B, 0x7D) and vifes:  # extension tables FB / FD: true VIF = first VIFE
        info = (FB if v7 == 0x7B else FD)[vifes[0] & 0x7F]
        k = 1
    elif v7 in (0x7B, 0x7D):
        # An escape without its VIFE: real meters send this (Sensus PolluTherm, libmbus
        # test frame sen_pollutherm); keep the value as an unknown quantity, not an error.
        info = _UNKNOWN
    else:
        info = PRIMARY[v7]
    num, den = info.num, info.den
    combinables: list[int] = []
    manufacturer: list[int] = []
    if v7 == 0x7F:  # manufacturer-specific VIF: every VIFE belongs to the manufacturer
        manufacturer = [b & 0x7F for b in vifes]
    else:
        in_manufacturer = False
        for b in vifes[k:]:
            code = b & 0x7F
            if in_manufacturer:
                manufacturer.append(code)
                continue
            combinables.append(code)
            if code == VIFE_MANUFACTURER:
                in_manufacturer = True
                continue
            factor = combinable_factor(code)
            if factor is not None:
                num *= factor[0]
                den *= factor[1]
    unit = plain_unit if info.kind == KIND_PLAIN_TEXT else info.unit
    return Header(
        data_field,
        function,
        storage,
        tariff,
        subunit,
        info.vif_range,
        unit,
        num,
        den,
        info.kind,
        tuple(combinables),
        tuple(manufacturer),
    )


def _plan_of(raw: bytes, pos: int) -> Plan:
    """The cached plan of header bytes ``raw`` (found at ``pos``, for error offsets)."""
    plan = _CACHE.get(raw)
    if plan is None:
        header = _decode_header(raw, pos)
        plan = Plan(header, DATA_LENGTH[header.data_field], _converter(header))
        if len(_CACHE) < _CACHE_LIMIT:
            _CACHE[raw] = plan
    return plan


def _plan_at(buf: bytes, pos: int) -> tuple[bytes, Plan, int]:
    """(header bytes, plan, end offset) of the record header at ``pos``."""
    end = _scan_header(buf, pos)
    raw = buf[pos:end]
    return raw, _plan_of(raw, pos), end


def _header_at(buf: bytes, pos: int) -> tuple[bytes, Header, int]:
    """(header bytes, meaning, end offset) of the record header at ``pos``."""
    raw, plan, end = _plan_at(buf, pos)
    return raw, plan.header, end


def _scale(raw: int | float, h: Header) -> int | float:
    """``raw`` in the canonical unit; exact integer arithmetic until one final division."""
    if h.den == 1:
        return raw * h.num if h.num != 1 else raw
    return raw * h.num / h.den


def _value(h: Header, d: bytes, offset: int) -> tuple[RecordValue, int | float | bytes]:
    """(value in the canonical unit, raw value) of the data ``d`` of a fixed-length field."""
    field = h.data_field
    kind = h.kind
    if kind == KIND_DATE:
        return decode_date(d), int.from_bytes(d, "little")
    if kind == KIND_DATE_TIME:
        return decode_date_time(d), int.from_bytes(d, "little")
    if field in INTEGER_FIELDS:
        raw: int | float = int.from_bytes(d, "little", signed=kind not in _UNSIGNED_KINDS)
    elif field in BCD_FIELDS:
        bcd = decode_bcd(d)
        if bcd is None:  # hex digits in a BCD field: the meter's "no value" marker
            return None, d
        raw = bcd
    elif field == FIELD_REAL32:
        raw = shortest_float32(d)
    else:  # no data (0x0) or selection for readout (0x8)
        return None, d
    if kind in (KIND_NUMBER, KIND_PLAIN_TEXT):
        return _scale(raw, h), raw
    if kind == KIND_UNSIGNED:
        return raw, raw
    if kind == KIND_FAHRENHEIT:
        return round((_scale(raw, h) - 32) * 5 / 9, 9), raw
    if kind == KIND_FAHRENHEIT_DIFF:
        return round(_scale(raw, h) * 5 / 9, 9), raw
    return raw, raw  # manufacturer-specific VIF: the number as sent


def _lvar_value(
    h: Header, buf: bytes, pos: int
) -> tuple[RecordValue, int | float | bytes, bytes, int]:
    """(value, raw, data bytes incl. length byte, end) of an LVAR field at ``pos``."""
    if pos >= len(buf):
        raise TruncatedError("LVAR record without its length byte", offset=pos)
    kind, length = lvar_kind(buf[pos], pos)
    end = pos + 1 + length
    if end > len(buf):
        raise TruncatedError("LVAR data longer than the block", offset=len(buf))
    body = buf[pos + 1 : end]
    if kind == LVAR_TEXT and is_printable(body):  # ASCII sent last character first
        return body[::-1].decode("ascii"), body, buf[pos:end], end
    if kind == LVAR_TEXT:  # not text after all (manufacturer blobs, compact profiles)
        return body.hex().upper(), body, buf[pos:end], end
    if kind == LVAR_BINARY:  # most significant byte last, like the integers
        return body[::-1].hex().upper(), body, buf[pos:end], end
    bcd = decode_bcd(body)
    if bcd is None:
        return None, body, buf[pos:end], end
    if kind == LVAR_NEG_BCD:
        bcd = -bcd
    if h.kind in (KIND_NUMBER, KIND_PLAIN_TEXT):
        return _scale(bcd, h), bcd, buf[pos:end], end
    return bcd, bcd, buf[pos:end], end


def _manufacturer_record(dif: int, rest: bytes, offset: int) -> Record:
    """DIF 0x0F / 0x1F: everything after the DIF is the manufacturer's (clause 6.3.2)."""
    return Record(
        header=bytes((dif,)),
        data=rest,
        function=Function.INSTANTANEOUS,
        storage=0,
        tariff=0,
        subunit=0,
        vif_range=VifRange.MANUFACTURER_SPECIFIC,
        unit="",
        value=rest.hex().upper(),
        raw=rest,
        offset=offset,
    )


def _check_special(dif: int, pos: int) -> NoReturn:
    if dif == DIF_GLOBAL_READOUT:
        raise FormatError("global readout request (DIF 0x7F) in meter data", offset=pos)
    raise FormatError(f"reserved special DIF 0x{dif:02X}", offset=pos)


_DATA_PAST_BLOCK = "record data runs past the end of the block"
_DATA_SHORTER_THAN_LAYOUT = "compact data shorter than its layout"


def _record(
    raw_header: bytes, plan: Plan, buf: bytes, at: int, offset: int, overrun: str
) -> tuple[Record, int]:
    """(record, end of its data) for a header of ``plan`` whose data starts at ``at`` in
    ``buf``.

    ``offset`` is the position the record reports; ``overrun`` the message when a
    fixed-length field runs past the end of ``buf``."""
    h, size = plan.header, plan.size
    if size >= 0:
        stop = at + size
        if stop > len(buf):
            raise TruncatedError(overrun, offset=len(buf))
        d = buf[at:stop]
        value, raw = plan.convert(d)
    else:  # LVAR
        value, raw, d, stop = _lvar_value(h, buf, at)
    fields = (raw_header, d, h.function, h.storage, h.tariff, h.subunit, h.vif_range, h.unit)
    record = _tuple_new(Record, (*fields, value, raw, h.combinables, h.manufacturer_vifes, offset))
    return record, stop


def parse_records(data: bytes) -> list[Record]:
    """All data records of a variable-data block (the application data after the TPL).

    Idle fillers (0x2F) are skipped; DIF 0x0F / 0x1F turn the rest of the block into one
    manufacturer-specific record. Raises :class:`TruncatedError` / :class:`FormatError` /
    :class:`UnsupportedError` for bad input, nothing else.
    """
    return _walk(data, strict=True).records


class Block(NamedTuple):
    """The records of a block that real meters sent, and what could not be read of it."""

    records: list[Record]
    warnings: tuple[str, ...]


def parse_block(data: bytes) -> Block:
    """The data records of a wireless telegram's block, as tolerant as the meters are.

    Real meters break EN 13757-3 in known ways: a reserved special DIF (0x3F-0x6F, or a
    special DIF with its extension bit, 0xFF), an LVAR length running past the block, a
    record without its VIF or ending inside its DIFEs at the end of the frame. Every
    record before such a place is kept and a warning names the byte and the reason:

    - a reserved special DIF: the standard defines nothing after it, so what follows is
      kept as manufacturer data (as after 0x0F), for a driver that knows the layout;
    - a record that cannot be read: the block ends there (where the next record would
      start is not known).

    Only a block that yields no record at all raises (the error :func:`parse_records`
    raises); nothing but :class:`~protocols.errors.DecodeError` escapes.
    """
    return _walk(data, strict=False)


def _walk(data: bytes, *, strict: bool) -> Block:
    """The one record walk of both parsers: ``strict`` raises at the first fault."""
    data = bytes(data)
    out: list[Record] = []
    warnings: list[str] = []
    n = len(data)
    pos = 0
    new_record, cache = _tuple_new, _CACHE  # locals: looked up for every record
    while pos < n:
        dif = data[pos]
        if dif & 0x0F == FIELD_SPECIAL:
            if dif == DIF_IDLE_FILLER:
                pos += 1
                continue
            if dif not in (DIF_MANUFACTURER, DIF_MORE_FOLLOWS):
                if strict:
                    _check_special(dif, pos)
                what = "global readout DIF 0x7F" if dif == DIF_GLOBAL_READOUT else "reserved"
                warnings.append(
                    f"{what} special DIF 0x{dif:02X} at byte {pos} of the records: the "
                    f"{n - pos - 1} bytes after it are kept as manufacturer data"
                )
            out.append(_manufacturer_record(dif, data[pos + 1 :], pos))
            break
        try:
            second = data[pos + 1] if pos + 1 < n else 0x80
            if dif & 0x80 or second & 0x80 or second == 0x7C:
                raw_header, plan, end = _plan_at(data, pos)
            else:  # DIF and VIF, no extensions (most records): no scan needed
                end = pos + 2
                raw_header = data[pos:end]
                plan = cache.get(raw_header) or _plan_of(raw_header, pos)
            size = plan.size
            if size >= 0 and end + size <= n:  # fixed size and all there: _record, inline
                h = plan.header
                next_pos = end + size
                d = data[end:next_pos]
                value, raw = plan.convert(d)
                record = new_record(
                    Record,
                    (
                        raw_header,
                        d,
                        h.function,
                        h.storage,
                        h.tariff,
                        h.subunit,
                        h.vif_range,
                        h.unit,
                        value,
                        raw,
                        h.combinables,
                        h.manufacturer_vifes,
                        pos,
                    ),
                )
            else:
                record, next_pos = _record(raw_header, plan, data, end, pos, _DATA_PAST_BLOCK)
        except DecodeError as err:
            if strict or not out:
                raise
            warnings.append(
                f"{err.reason} at byte {err.offset} of the records: the {len(out)} records "
                f"before byte {pos} are kept, the {n - pos} bytes from there are not decoded"
            )
            break
        out.append(record)
        pos = next_pos
    return Block(out, tuple(warnings))


def parse_compact(layout: bytes, data: bytes) -> list[Record]:
    """The records of a compact frame (CI 0x79): headers from ``layout``, data from ``data``.

    ``layout`` is the concatenation of the full frame's record headers (as
    :func:`split_headers` returns it); a trailing 0x0F / 0x1F in it takes the rest of
    ``data`` as manufacturer data. Record offsets are positions in ``data``. Data left over
    after the last header (other than 0x2F padding) is a :class:`FormatError`.
    """
    layout = bytes(layout)
    data = bytes(data)
    out: list[Record] = []
    pos = 0
    lpos = 0
    ln = len(layout)
    while lpos < ln:
        dif = layout[lpos]
        if dif & 0x0F == FIELD_SPECIAL:
            if dif == DIF_IDLE_FILLER:
                lpos += 1
                continue
            if dif in (DIF_MANUFACTURER, DIF_MORE_FOLLOWS):
                if lpos + 1 != ln:
                    raise FormatError("layout continues after manufacturer DIF", offset=lpos)
                out.append(_manufacturer_record(dif, data[pos:], pos))
                return out
            _check_special(dif, lpos)
        raw_header, plan, lpos = _plan_at(layout, lpos)
        record, pos = _record(raw_header, plan, data, pos, pos, _DATA_SHORTER_THAN_LAYOUT)
        out.append(record)
    if data[pos:].strip(b"\x2f"):
        raise FormatError("compact data longer than its layout", offset=pos)
    return out


def split_headers(data: bytes) -> tuple[bytes, bytes]:
    """(all record headers concatenated, all record data concatenated) of a full block.

    This is what compact frames are built from: the signature is the CRC-16/EN-13757 of
    the headers, the compact frame carries the data only (its data CRC, in the Kamstrup
    vectors, is over the full records, headers and data). Idle fillers count in neither.
    Trailing
    manufacturer data counts as a header (its DIF) plus data (the rest), as checked against
    the Kamstrup layouts of the vectors (see tests/protocols/test_records_compact.py).
    """
    records = parse_records(data)
    return record_headers(records), b"".join([rec.data for rec in records])


def record_headers(records: list[Record] | tuple[Record, ...]) -> bytes:
    """The headers of parsed records concatenated: the compact-frame layout of the block
    they came from (as :func:`split_headers` gives it, without parsing the block again)."""
    return b"".join([rec.header for rec in records])


def more_records_follow(records: list[Record] | tuple[Record, ...]) -> bool:
    """Whether the block ended with DIF 0x1F: the meter has more records in a next telegram."""
    return bool(records) and records[-1].header == bytes((DIF_MORE_FOLLOWS,))
