"""Column layout of a readings list, used by the compact codec (docs/uplink.md, "compact").

A readings batch is a list of flat objects that mostly share their keys and many of their
values (``manufacturer``, ``media``, ``status`` ``OK``, ``interval_end`` ...). Stored row by
row in CBOR each row repeats every key and most values; zstd finds some of that but not the
arithmetic structure (sorted ids, scaled decimals, timestamps seconds apart). So rows with
the same set of keys form a group, and each key becomes a column, coded by the first of
these kinds that reproduces the column exactly:

====  ==========================  ==================================================
kind  form                        decodes to
====  ==========================  ==================================================
c     ["c", v]                    v in every row
i     ["i", [n...]]               the integers
I     ["I", [n0, d1, d2...]]      running sum (delta coded integers)
f     ["f", s, [n...]]            n / 10**s as floats (decimals with s places)
F     ["F", s, [n0, d1...]]       as f, delta coded
n     ["n", w, [n...]]            each n as a zero-padded string of w digits
N     ["N", w, [n0, d1...]]       as n, delta coded (sorted meter ids)
t     ["t", u, base, [o...]]      ISO UTC time of base + o (u=1: ``...SSZ``, u=1000: ms)
e     ["e", [v...], [k...]]       v[k] (few distinct values)
r     ["r", [v...]]               the values as they are
====  ==========================  ==================================================

Every coded column is decoded again and compared, type for type, with the original before it
is used; a column that would not come back exactly is stored raw (``r``). The layout is
therefore reversible for any JSON-like list of objects.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import cbor2

Column = list[Any]
Group = list[Any]  # [keys, count, columns]

_DIGITS = re.compile(r"^[0-9]{1,18}$")
_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")
_MAX_SCALE = 6
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
# A decoder bound: the largest profile has 30,000 meters; "c" columns expand, so cap rows.
MAX_ROWS = 200_000


class ColumnError(ValueError):
    """A column layout is malformed (only raised when decoding)."""


def _same(a: Sequence[Any], b: Sequence[Any]) -> bool:
    """Equal value for value and type (1, 1.0 and True are three different things here)."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if type(x) is not type(y):
            return False
        if isinstance(x, float):
            if x.hex() != y.hex():  # tells -0.0 from 0.0, and compares NaN with itself
                return False
        elif x != y:
            return False
    return True


def _delta(ints: Sequence[int]) -> list[int]:
    return [ints[0]] + [b - a for a, b in itertools.pairwise(ints)]


def _undelta(deltas: Sequence[int]) -> list[int]:
    out: list[int] = []
    total = 0
    for d in deltas:
        total += d
        out.append(total)
    return out


def _smaller(plain: Column, delta: Column) -> Column:
    return delta if len(cbor2.dumps(delta)) < len(cbor2.dumps(plain)) else plain


def iso_to_ms(text: str) -> int:
    """Milliseconds since the epoch of an ISO UTC time with ``Z``."""
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (when - _EPOCH) // _MS


def _iso(ms: int, unit: int) -> str:
    when = _EPOCH + ms * _MS
    if unit == 1:
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _candidates(values: list[Any], base_ms: int | None) -> list[Column]:
    """Codings worth trying for ``values``, best first."""
    first = values[0]
    if all(type(v) is type(first) for v in values) and all(v == first for v in values[1:]):
        return [["c", first]]
    out: list[Column] = []
    if all(type(v) is int for v in values):
        out.append(_smaller(["i", values], ["I", _delta(values)]))
    elif all(type(v) is float for v in values):
        for scale in range(_MAX_SCALE + 1):
            ints = [round(v * 10**scale) for v in values]
            if all(abs(n) < 2**53 for n in ints) and _same(_decode(["f", scale, ints]), values):
                out.append(_smaller(["f", scale, ints], ["F", scale, _delta(ints)]))
                break
    elif all(type(v) is str for v in values):
        width = len(first)
        if all(len(v) == width and _DIGITS.match(v) for v in values):
            ints = [int(v) for v in values]
            out.append(_smaller(["n", width, ints], ["N", width, _delta(ints)]))
        if all(_ISO.match(v) for v in values):
            unit = 1000 if "." in first else 1
            stamps = [iso_to_ms(v) // (1 if unit == 1000 else 1000) for v in values]
            base = (base_ms // (1 if unit == 1000 else 1000)) if base_ms is not None else stamps[0]
            out.append(["t", unit, base, [s - base for s in stamps]])
    distinct = list(dict.fromkeys(values)) if all(type(v) is str for v in values) else []
    if distinct and len(distinct) < len(values) and len(distinct) <= 255:
        out.append(["e", distinct, [distinct.index(v) for v in values]])
    out.append(["r", values])
    return out


def encode_column(values: list[Any], base_ms: int | None = None) -> Column:
    """The first coding of ``values`` that decodes back to exactly ``values``."""
    for column in _candidates(values, base_ms):
        try:
            if _same(_decode(column, len(values)), values):
                return column
        except (ColumnError, ValueError, OverflowError):
            continue
    return ["r", values]  # pragma: no cover - "r" always round-trips


def _decode(column: Column, count: int | None = None) -> list[Any]:
    """Values of a coded column (``count`` rows, needed for ``c``)."""
    if not isinstance(column, list) or not column or not isinstance(column[0], str):
        raise ColumnError("column is not [kind, ...]")
    kind, args = column[0], column[1:]
    try:
        if kind == "c":
            return [args[0]] * (count if count is not None else 1)
        if kind == "i":
            return [int(n) for n in args[0]]
        if kind == "I":
            return _undelta(args[0])
        if kind in ("f", "F"):
            scale = int(args[0])
            ints = args[1] if kind == "f" else _undelta(args[1])
            return [n / 10**scale for n in ints]
        if kind in ("n", "N"):
            width = int(args[0])
            ints = args[1] if kind == "n" else _undelta(args[1])
            return [str(n).zfill(width) for n in ints]
        if kind == "t":
            unit, base, offsets = int(args[0]), int(args[1]), args[2]
            scale = 1 if unit == 1000 else 1000
            return [_iso((base + o) * scale, unit) for o in offsets]
        if kind == "e":
            table = args[0]
            return [table[k] for k in args[1]]
        if kind == "r":
            return list(args[0])
    except (IndexError, TypeError, KeyError, OverflowError, ValueError) as exc:
        raise ColumnError(f"malformed {kind!r} column: {exc}") from None
    raise ColumnError(f"unknown column kind {kind!r}")


def encode_rows(rows: list[dict[str, Any]], base_ms: int | None) -> list[Any]:
    """``[groups, order]`` for a list of objects (see the module docstring).

    ``order`` is null when the groups in sequence give the original order, and otherwise the
    original index of each row in group order.
    """
    groups: dict[tuple[str, ...], list[int]] = {}
    for index, row in enumerate(rows):
        groups.setdefault(tuple(sorted(row)), []).append(index)
    out: list[Group] = []
    sequence: list[int] = []
    for keys, indices in groups.items():
        columns = [encode_column([rows[i][k] for i in indices], base_ms) for k in keys]
        out.append([list(keys), len(indices), columns])
        sequence.extend(indices)
    order = None if sequence == list(range(len(rows))) else _delta(sequence)
    return [out, order]


def decode_rows(layout: Any) -> list[dict[str, Any]]:
    """The list of objects that :func:`encode_rows` laid out."""
    try:
        groups, order = layout
        rows: list[dict[str, Any]] = []
        total = 0
        for keys, count, columns in groups:
            if len(keys) != len(columns) or not isinstance(count, int) or count < 0:
                raise ColumnError("group shape does not match its keys")
            total += count
            if total > MAX_ROWS:
                raise ColumnError(f"more than {MAX_ROWS} rows")
            values = [_decode(c, count) for c in columns]
            if any(len(v) != count for v in values):
                raise ColumnError("a column's length differs from its group's row count")
            rows.extend(dict(zip(keys, row, strict=True)) for row in zip(*values, strict=True))
            if not keys:
                rows.extend({} for _ in range(count))
    except (TypeError, ValueError) as exc:
        raise ColumnError(f"malformed rows layout: {exc}") from None
    if order is None:
        return rows
    positions = _undelta(order)
    if sorted(positions) != list(range(len(rows))):
        raise ColumnError("row order is not a permutation")
    result: list[dict[str, Any]] = [{}] * len(rows)
    for row, position in zip(rows, positions, strict=True):
        result[position] = row
    return result
