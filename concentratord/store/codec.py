"""Compact, exact storage encoding of outbox documents: columnar CBOR, then zstd.

A readings batch is a list of per-meter dicts with the same keys. Stored row by row, each
value repeats its key names and zstd must find the numbers between them; stored column by
column (one list per key), similar values sit next to each other. Numeric columns are packed
further into little-endian int64 arrays whose bytes are "shuffled" into planes (all first
bytes, then all second bytes, ...), so the mostly-constant high bytes compress to nothing.
Measured on hourly Kamstrup water batches: ~26 bytes per meter value row-wise, ~14 packed
(see docs/decisions/0006-outbox-durability.md and bench/disk.py).

Every transform is exact: ``decode(encode(doc)) == doc`` with the same types and key order.
A column that cannot be packed exactly (mixed types, bools, NaN, floats with more than six
decimals, ...) stays a plain CBOR list.
"""

from __future__ import annotations

import array
import sys
from typing import Any

import cbor2
import zstandard

# First byte of every stored blob: the format, so that a later format can be read next to
# this one without a migration of old rows.
FORMAT_V1 = b"\x01"
# CBOR tags private to this store (first-come-first-served range, unlikely to collide; they
# never leave the gateway: the publisher encodes its own payload from the decoded document).
TAG_TABLE = 48_001  # [keys, columns]: a list of dicts with identical keys
TAG_PACKED = 48_002  # [code, param, bytes]: a column packed as shuffled int64
_INT = 0  # int column, param unused
_SCALED = 1  # float column, value = int / 10**param
_DIGITS = 2  # ASCII digit strings of width param (meter ids), value = int
_MAX_DECIMALS = 6
_INT64 = (-(2**63), 2**63 - 1)
_LEVEL = 6  # small: ~1 ms per 1,000 values; levels above 9 gain little here (measured)

_compressor = zstandard.ZstdCompressor(level=_LEVEL)
_decompressor = zstandard.ZstdDecompressor()


def encode(document: dict[str, Any]) -> bytes:
    """The stored form of ``document``: format byte + zstd(columnar CBOR)."""
    return FORMAT_V1 + _compressor.compress(cbor2.dumps(_transform(document)))


def decode(blob: bytes) -> dict[str, Any]:
    """The document that :func:`encode` stored as ``blob``."""
    if blob[:1] != FORMAT_V1:
        raise ValueError(f"unknown stored document format {blob[:1]!r}")
    value = cbor2.loads(_decompressor.decompress(blob[1:]), tag_hook=_tag_hook)
    if not isinstance(value, dict):
        raise ValueError("stored document is not a map")
    return value


def _transform(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _transform(v) for k, v in value.items()}
    if isinstance(value, list):
        keys = _table_keys(value)
        if keys is None:
            return [_transform(v) for v in value]
        columns = [_column([row[k] for row in value]) for k in keys]
        return cbor2.CBORTag(TAG_TABLE, [list(keys), columns])
    return value


def _table_keys(rows: list[Any]) -> tuple[str, ...] | None:
    """The common key tuple if ``rows`` is worth storing as a table, else None."""
    if len(rows) < 2 or not isinstance(rows[0], dict):
        return None
    keys = tuple(rows[0])
    if not keys or not all(isinstance(k, str) for k in keys):
        return None
    for row in rows:
        if not isinstance(row, dict) or tuple(row) != keys:
            return None
    return keys


def _column(values: list[Any]) -> Any:
    packed = _pack(values)
    return packed if packed is not None else [_transform(v) for v in values]


def _pack(values: list[Any]) -> cbor2.CBORTag | None:
    first = values[0]
    # type() rather than isinstance(): bool is an int subclass and must stay a bool.
    if type(first) is int and all(type(v) is int for v in values):
        code, param, ints = _INT, 0, values
    elif type(first) is float and all(type(v) is float for v in values):
        scaled = _scale_floats(values)
        if scaled is None:
            return None
        code, (param, ints) = _SCALED, scaled
    elif type(first) is str and all(type(v) is str for v in values):
        width = len(first)
        if not 0 < width <= 18:
            return None
        if not all(len(v) == width and v.isascii() and v.isdigit() for v in values):
            return None
        code, param, ints = _DIGITS, width, [int(v) for v in values]
    else:
        return None
    if not all(_INT64[0] <= i <= _INT64[1] for i in ints):
        return None
    return cbor2.CBORTag(TAG_PACKED, [code, param, _shuffle(ints)])


def _scale_floats(values: list[float]) -> tuple[int, list[int]] | None:
    """(decimals, ints) with ``ints[i] / 10**decimals`` giving back exactly ``values[i]``."""
    decimals = 0
    texts = [repr(v) for v in values]
    for text in texts:
        if "e" in text or "n" in text:  # 1e-07, nan, inf: not a short decimal
            return None
        decimals = max(decimals, len(text) - text.index(".") - 1)
    if decimals > _MAX_DECIMALS:
        return None
    factor = 10**decimals
    ints = [round(v * factor) for v in values]
    # Verify instead of trusting float arithmetic; repr also tells -0.0 from 0.0.
    if any(repr(i / factor) != t for i, t in zip(ints, texts, strict=True)):
        return None
    return decimals, ints


def _shuffle(ints: list[int]) -> bytes:
    raw = array.array("q", ints)
    if sys.byteorder == "big":
        raw.byteswap()
    data = raw.tobytes()
    return b"".join(data[i::8] for i in range(8))


def _unshuffle(data: bytes) -> list[int]:
    count = len(data) // 8
    out = bytearray(len(data))
    for i in range(8):
        out[i::8] = data[i * count : (i + 1) * count]
    raw = array.array("q", bytes(out))
    if sys.byteorder == "big":
        raw.byteswap()
    return raw.tolist()


def _tag_hook(first: Any, second: Any) -> Any:
    # cbor2 5 calls tag_hook(decoder, tag), cbor2 6 tag_hook(tag, immutable); take either.
    tag = first if isinstance(first, cbor2.CBORTag) else second
    if tag.tag == TAG_PACKED:
        code, param, data = tag.value
        ints = _unshuffle(data)
        if code == _INT:
            return ints
        if code == _SCALED:
            factor = 10**param
            return [i / factor for i in ints]
        if code == _DIGITS:
            return [f"{i:0{param}d}" for i in ints]
        raise ValueError(f"unknown packed column code {code}")
    if tag.tag == TAG_TABLE:
        keys, columns = tag.value
        return [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]
    return tag
