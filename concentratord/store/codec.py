"""Compact, exact storage encoding of outbox documents: columnar CBOR, then zstd.

A readings batch is a list of per-meter dicts with the same keys. Stored row by row, each
value repeats its key names and zstd must find the numbers between them; stored column by
column (one list per key), similar values sit next to each other, and numeric columns are
packed into byte-shuffled int64 so that the mostly-constant high bytes compress to nothing.
Measured on hourly Kamstrup water batches: ~26 bytes per meter value row-wise, ~14 packed
(see docs/decisions/0006-outbox-durability.md and bench/disk.py).

The columns are the store profile of :mod:`uplink.columns`, the module that also lays out
the compact payload codec's columns (docs/uplink.md, "Payload codecs"): one columnar coding,
two profiles. What this module adds is the store's own: the format byte and zstd.

Every transform is exact: ``decode(encode(doc)) == doc`` with the same types and key order.
A column that cannot be packed exactly (mixed types, bools, NaN, floats with more than six
decimals, ...) stays a plain CBOR list.
"""

from __future__ import annotations

from typing import Any

import zstandard

from uplink.columns import store_decode, store_encode

# First byte of every stored blob: the format, so that a later format can be read next to
# this one without a migration of old rows. Format 1 is zstd of uplink.columns.store_encode;
# its bytes are pinned by tests/uplink/test_columns_golden.py.
FORMAT_V1 = b"\x01"
_LEVEL = 6  # small: ~1 ms per 1,000 values; levels above 9 gain little here (measured)

_compressor = zstandard.ZstdCompressor(level=_LEVEL)
_decompressor = zstandard.ZstdDecompressor()


def encode(document: dict[str, Any]) -> bytes:
    """The stored form of ``document``: format byte + zstd(columnar CBOR)."""
    return FORMAT_V1 + _compressor.compress(store_encode(document))


def decode(blob: bytes) -> dict[str, Any]:
    """The document that :func:`encode` stored as ``blob``."""
    if blob[:1] != FORMAT_V1:
        raise ValueError(f"unknown stored document format {blob[:1]!r}")
    value = store_decode(_decompressor.decompress(blob[1:]))
    if not isinstance(value, dict):
        raise ValueError("stored document is not a map")
    return value
