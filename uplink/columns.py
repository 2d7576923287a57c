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
import math
import re
from collections import Counter
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


# -- delta layout against a reference batch (compact format 2) ---------------------------
#
# Hourly values of the same meters change little from one hour to the next: the meter ids
# are the same, a total grows by a few litres, most fields do not change at all. A batch
# laid out against the previous batch of the same meters (its *reference*, which the head-end
# already holds) codes each matched row's columns as "same as the reference" or as a small
# difference, and only rows whose meter is not in the reference in full. The decoder needs
# the reference's rows; every coded column is still verified by decoding it again.

_MISSING = object()


def _entropy_bits(values: Sequence[Any]) -> float:
    """Order-0 entropy of ``values`` times their count: how zstd's entropy stage will see a
    column of small numbers (a proxy, cheap to compute, for choosing between two codings)."""
    n = len(values)
    return -sum(c * math.log2(c / n) for c in Counter(values).values())


def _delta_candidates(values: list[Any], refs: list[Any]) -> list[Column]:
    """Codings of ``values`` relative to the reference's values ``refs`` (same rows)."""
    if any(r is _MISSING for r in refs):
        return []
    if _same(values, refs):
        return [["="]]
    if all(type(v) is int for v in values) and all(type(r) is int for r in refs):
        return [["d", [v - r for v, r in zip(values, refs, strict=True)]]]
    if all(type(v) is float for v in values) and all(type(r) is float for r in refs):
        for scale in range(_MAX_SCALE + 1):
            ints = [round(v * 10**scale) for v in values]
            bases = [round(r * 10**scale) for r in refs]
            if all(abs(n) < 2**53 for n in ints) and all(abs(b) < 2**53 for b in bases):
                column = ["D", scale, [a - b for a, b in zip(ints, bases, strict=True)]]
                if _same(_decode_delta(column, refs), values):
                    return [column]
    return []


def _numbers(column: Column) -> list[Any]:
    """The numbers a coded column carries (for the entropy comparison)."""
    for arg in reversed(column[1:]):
        if isinstance(arg, list):
            return arg
    return []


def _decode_delta(column: Column, refs: list[Any]) -> list[Any]:
    """Values of a delta column given the reference's values of the same rows."""
    kind = column[0]
    try:
        if kind == "=":
            return list(refs)
        if kind == "d":
            if len(column[1]) != len(refs):
                raise ColumnError("delta column length differs from its rows")
            out_i: list[Any] = []
            for n, r in zip(column[1], refs, strict=True):
                if type(r) is not int or type(n) is not int:
                    raise ColumnError("'d' needs integers in the column and the reference")
                out_i.append(r + n)
            return out_i
        if kind == "D":
            scale = int(column[1])
            if not 0 <= scale <= _MAX_SCALE or len(column[2]) != len(refs):
                raise ColumnError("malformed 'D' column")
            out_f: list[Any] = []
            for n, r in zip(column[2], refs, strict=True):
                if type(r) is not float or type(n) is not int:
                    raise ColumnError("'D' needs integers over float references")
                out_f.append((round(r * 10**scale) + n) / 10**scale)
            return out_f
    except (IndexError, TypeError, ValueError, OverflowError) as exc:
        raise ColumnError(f"malformed {kind!r} column: {exc}") from None
    raise ColumnError(f"unknown delta column kind {kind!r}")


def encode_column_delta(values: list[Any], refs: list[Any], base_ms: int | None) -> Column:
    """The better of the plain coding of ``values`` and a coding relative to ``refs``."""
    plain = encode_column(values, base_ms)
    for column in _delta_candidates(values, refs):
        try:
            if not _same(_decode_delta(column, refs), values):
                continue
        except ColumnError:
            continue
        if column[0] == "=" or plain[0] == "r":
            return column
        # Both are columns of integers: keep the one zstd will code in fewer bits.
        numeric = plain[0] in ("i", "I", "f", "F")
        if numeric and _entropy_bits(_numbers(column)) < _entropy_bits(_numbers(plain)):
            return column
    return plain


def encode_rows_delta(
    rows: list[dict[str, Any]], reference: list[dict[str, Any]], base_ms: int | None
) -> list[Any]:
    """``[match, groups, order]``: ``rows`` laid out against ``reference``'s rows.

    ``match`` is a coded integer column: for each row in group order, the index of the
    reference row with the same ``id``, or -1. Groups are formed by key set and by whether
    their rows are matched; a matched group's columns may use the delta kinds ``=``, ``d`` and
    ``D`` (docs/uplink.md), an unmatched group's only the plain kinds.
    """
    by_id: dict[str, int] = {}
    for index, ref in enumerate(reference):
        ident = ref.get("id")
        if isinstance(ident, str):
            by_id.setdefault(ident, index)
    matches: list[int] = []
    for row in rows:
        ident = row.get("id")
        matches.append(by_id.get(ident, -1) if isinstance(ident, str) else -1)
    groups: dict[tuple[tuple[str, ...], bool], list[int]] = {}
    for index, row in enumerate(rows):
        groups.setdefault((tuple(sorted(row)), matches[index] >= 0), []).append(index)
    out: list[Group] = []
    sequence: list[int] = []
    for (keys, matched), indices in groups.items():
        columns = []
        for key in keys:
            values = [rows[i][key] for i in indices]
            if matched:
                refs = [reference[matches[i]].get(key, _MISSING) for i in indices]
                columns.append(encode_column_delta(values, refs, base_ms))
            else:
                columns.append(encode_column(values, base_ms))
        out.append([list(keys), len(indices), columns])
        sequence.extend(indices)
    match_column = encode_column([matches[i] for i in sequence]) if rows else ["r", []]
    order = None if sequence == list(range(len(rows))) else _delta(sequence)
    return [match_column, out, order]


def decode_rows_delta(layout: Any, reference: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The list of objects that :func:`encode_rows_delta` laid out against ``reference``."""
    try:
        match_column, groups, order = layout
        total = sum(int(g[1]) for g in groups)
        if total > MAX_ROWS:
            raise ColumnError(f"more than {MAX_ROWS} rows")
        matches = _decode(match_column, total)
        if len(matches) != total or not all(type(m) is int for m in matches):
            raise ColumnError("match column does not hold one integer per row")
        rows: list[dict[str, Any]] = []
        offset = 0
        for keys, count, columns in groups:
            if len(keys) != len(columns) or not isinstance(count, int) or count < 0:
                raise ColumnError("group shape does not match its keys")
            refs_of = matches[offset : offset + count]
            offset += count
            values = []
            for key, column in zip(keys, columns, strict=True):
                if isinstance(column, list) and column and column[0] in ("=", "d", "D"):
                    if any(not 0 <= m < len(reference) for m in refs_of):
                        raise ColumnError("delta column on a row without a reference row")
                    refs = [reference[m].get(key, _MISSING) for m in refs_of]
                    if any(r is _MISSING for r in refs):
                        raise ColumnError(f"reference rows lack {key!r}")
                    values.append(_decode_delta(column, refs))
                else:
                    values.append(_decode(column, count))
            if any(len(v) != count for v in values):
                raise ColumnError("a column's length differs from its group's row count")
            rows.extend(dict(zip(keys, row, strict=True)) for row in zip(*values, strict=True))
            if not keys:
                rows.extend({} for _ in range(count))
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ColumnError):
            raise
        raise ColumnError(f"malformed delta rows layout: {exc}") from None
    if order is None:
        return rows
    positions = _undelta(order)
    if sorted(positions) != list(range(len(rows))):
        raise ColumnError("row order is not a permutation")
    result: list[dict[str, Any]] = [{}] * len(rows)
    for row, position in zip(rows, positions, strict=True):
        result[position] = row
    return result
