"""Columns of a batch: the one columnar coding of readings, with a wire and a store profile.

A readings batch is a list of flat objects that mostly share their keys and many of their
values (``manufacturer``, ``media``, ``status`` ``OK``, ``interval_end`` ...). Stored row by
row in CBOR each row repeats every key and most values; zstd finds some of that but not the
arithmetic structure (sorted ids, scaled decimals, timestamps seconds apart). So each key
becomes a column, and a numeric column is *packed* into integers (:func:`pack_numeric`):

- integers as they are;
- decimals with at most six places as ``n / 10**s`` (volumes in litres, temperatures);
- zero-padded digit strings of one width as the number they spell (meter ids).

Packing is exact by construction: a column that would not come back value for value and type
for type (1, 1.0 and True are three different things here, and so are 0.0 and -0.0) is not
packed. The two profiles differ in how packed columns are written, and in two parameters of
the packing (:class:`Profile`):

**Wire profile** (:data:`WIRE`; the compact payload codec, docs/uplink.md "Payload codecs",
whose bytes are a head-end contract): rows with the same set of keys form a group, and each
column is coded by the first of these kinds that reproduces it exactly:

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

A batch may also be laid out against a reference batch (compact format 2,
:func:`encode_rows_delta`). Every coded column is exact (packed kinds by construction, the
others decoded again and compared); a column that would not come back exactly is sent raw
(``r``). The layout is therefore reversible for any JSON-like list of objects.

**Store profile** (:data:`STORE`; the outbox blob, docs/decisions/0006-outbox-durability.md,
written by ``concentratord.store.codec`` as format 1): any document, every list of at least
two objects with the same keys in the same order becoming a table of columns (CBOR tag
:data:`TAG_TABLE`), each packed column a CBOR tag :data:`TAG_PACKED` holding its integers as
little-endian int64 whose bytes are "shuffled" into planes (all first bytes, then all second
bytes, ...), so that the mostly-constant high bytes compress to nothing. Key order is kept.

Both profiles write exactly what they wrote before they shared this module (format 1 blobs
and compact frames, pinned byte for byte by tests/uplink/test_columns_golden.py).
"""

from __future__ import annotations

import array
import itertools
import math
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import cbor2

Column = list[Any]
Group = list[Any]  # [keys, count, columns]

_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")
_MAX_SCALE = 6
_MAX_DIGITS = 18  # 10**18 - 1 < 2**63: a digit string always packs into an int64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
# A decoder bound: the largest profile has 30,000 meters; "c" columns expand, so cap rows.
MAX_ROWS = 200_000


class ColumnError(ValueError):
    """A column layout is malformed (only raised when decoding)."""


# -- shared by both profiles -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Profile:
    """The parameters in which the two profiles' numeric packing differs.

    ``int_range``: integers outside it are not packed (None: any integer). ``scaled_range``:
    nor are decimals whose scaled integers fall outside it. ``fewest_decimals``: True, the
    fewest decimal places (0 to 6) that give every value back; False, as many places as the
    longest ``repr`` of the column shows (so 1.0 takes one place), or none if that is not
    exact or more than six.
    """

    name: str
    int_range: tuple[int, int] | None
    scaled_range: tuple[int, int]
    fewest_decimals: bool


# Each profile's parameters are the ones it had before the two shared this module: both
# outputs are contracts, the compact frame with the head-end (docs/uplink.md) and format 1
# with the blobs already on disk (docs/decisions/0006-outbox-durability.md). The store packs
# into int64 planes; on the wire an integer column may hold any integer (CBOR bignums), and a
# decimal column's integers stay below 2**53, exactly representable as doubles.
_INT64 = (-(2**63), 2**63 - 1)
WIRE = Profile("wire", None, (-(2**53) + 1, 2**53 - 1), fewest_decimals=True)
STORE = Profile("store", _INT64, _INT64, fewest_decimals=False)

# What a packed column holds; the numbers are the store's codes in format 1 blobs.
PACK_INT = 0  # the integers; wire kinds i / I
PACK_SCALED = 1  # floats, value = n / 10**param; wire kinds f / F
PACK_DIGITS = 2  # ASCII digit strings of width param, value = int; wire kinds n / N


class Packed(NamedTuple):
    """A numeric column as integers: ``code`` (``PACK_*``), its parameter (decimal places or
    digit count; 0 for integers) and the integers."""

    code: int
    param: int
    ints: list[int]


def pack_numeric(values: list[Any], profile: Profile) -> Packed | None:
    """``values`` (not empty) as integers that give them back exactly, or None.

    Integers, floats or digit strings, all of one type (``type()`` rather than
    ``isinstance()``: bool is an int subclass and must stay a bool).
    """
    first = values[0]
    if type(first) is int:
        if not all(type(v) is int for v in values):
            return None
        if profile.int_range is not None and not _within(values, profile.int_range):
            return None
        return Packed(PACK_INT, 0, values)
    if type(first) is float:
        if not all(type(v) is float for v in values):
            return None
        scaled = _scale_decimals(values, profile)
        return None if scaled is None else Packed(PACK_SCALED, *scaled)
    if type(first) is str:
        width = len(first)
        if not 0 < width <= _MAX_DIGITS:
            return None
        for v in values:
            if type(v) is not str or len(v) != width or not (v.isascii() and v.isdigit()):
                return None
        return Packed(PACK_DIGITS, width, [int(v) for v in values])
    return None


def _within(ints: list[int], bounds: tuple[int, int]) -> bool:
    low, high = bounds
    return low <= min(ints) and max(ints) <= high


def _scale_decimals(values: list[float], profile: Profile) -> tuple[int, list[int]] | None:
    """(places, ints) with ``ints[i] / 10**places`` exactly ``values[i]``, or None."""
    if not all(math.isfinite(v) for v in values):
        return None
    if 0.0 in values and any(math.copysign(1.0, v) < 0 for v in values if v == 0.0):
        return None  # n / 10**s never gives -0.0
    if profile.fewest_decimals:
        scales: Sequence[int] = range(_MAX_SCALE + 1)
    else:
        places = 0
        for text in map(repr, values):
            if "e" in text:  # 1e-07, 1e+16: not a short decimal
                return None
            places = max(places, len(text) - text.index(".") - 1)
        if places > _MAX_SCALE:
            return None
        scales = (places,)
    for scale in scales:
        factor = 10**scale
        try:
            ints = [round(v * factor) for v in values]
        except OverflowError:  # 1.8e302 * 10**6 is no longer finite
            return None
        if not _within(ints, profile.scaled_range):
            continue
        # Verify instead of trusting float arithmetic (int / int is correctly rounded, and
        # == is exact for floats once -0.0 is ruled out above).
        if [n / factor for n in ints] == values:
            return scale, ints
    return None


def _scaled(ints: Sequence[int], places: int) -> list[float]:
    """Packed decimals as floats again: ``n / 10**places`` (int / int is correctly rounded,
    which is what packing verified)."""
    # A frame from outside (a head-end's command) names the places: bounded, or 10**places
    # of a crafted 10**9 would hang the decoder. No encoder writes more than _MAX_SCALE.
    if type(places) is not int or not 0 <= places <= _MAX_SCALE:
        raise ValueError(f"decimal places {places!r} not in 0..{_MAX_SCALE}")
    if len(ints) == 0:
        return []
    factor = 10**places
    return [n / factor for n in ints]


def _digits(ints: Sequence[int], width: int) -> list[str]:
    """Packed digit strings again: each ``n`` zero-padded to ``width`` digits."""
    # Bounded like the places (zfill of a crafted width would take all memory).
    if type(width) is not int or not 1 <= width <= _MAX_DIGITS:
        raise ValueError(f"digit width {width!r} not in 1..{_MAX_DIGITS}")
    return [str(n).zfill(width) for n in ints]


def _objects(keys: Sequence[str], columns: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """Rows again from columns of equal length, one per key (the callers check both)."""
    # map() rather than a comprehension: a fifth less time for a 500-row batch (measured).
    return list(map(dict, map(zip, itertools.repeat(keys), zip(*columns, strict=True))))


def same(a: Sequence[Any], b: Sequence[Any]) -> bool:
    """Equal value for value and type, at every depth (1, 1.0 and True are three different
    things here, and so are 0.0 and -0.0; NaN equals itself; objects compare as JSON
    objects, without regard to key order)."""
    if len(a) != len(b):
        return False
    if a == b:
        # Fast path (list comparison in C); then rule out what == takes as equal.
        types = list(map(type, a))
        if types != list(map(type, b)):
            return False
        kinds = set(types)
        if float in kinds and 0.0 in a:
            return all(_same_value(x, y) for x, y in zip(a, b, strict=True))
        if kinds & _CONTAINERS:
            return all(
                _same_value(x, y) for x, y in zip(a, b, strict=True) if type(x) in _CONTAINERS
            )
        return True
    return all(_same_value(x, y) for x, y in zip(a, b, strict=True))


_CONTAINERS = {list, tuple, dict}


def _same_value(x: Any, y: Any) -> bool:
    kind = type(x)
    if kind is not type(y):
        return False
    if kind is float:
        return bool(x.hex() == y.hex())  # tells -0.0 from 0.0, and compares NaN with itself
    if kind is list or kind is tuple:
        return same(x, y)
    if kind is dict:
        return x.keys() == y.keys() and all(_same_value(v, y[k]) for k, v in x.items())
    return bool(x == y)


def _delta(ints: Sequence[int]) -> list[int]:
    return [ints[0]] + [b - a for a, b in itertools.pairwise(ints)]


def _undelta(deltas: Sequence[int]) -> list[int]:
    # From 0, so that a malformed column of strings fails (0 + "a") instead of concatenating.
    return list(itertools.accumulate(deltas, initial=0))[1:]


# -- wire profile: groups of columns by kind (docs/uplink.md, "Payload codecs") ------------


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


_WIRE_KINDS = {PACK_INT: ("i", "I"), PACK_SCALED: ("f", "F"), PACK_DIGITS: ("n", "N")}


def _packed_column(packed: Packed) -> Column:
    """A packed column in wire kinds: plain or delta coded, whichever CBOR is shorter."""
    plain, delta = _WIRE_KINDS[packed.code]
    params = [] if packed.code == PACK_INT else [packed.param]
    return _smaller([plain, *params, packed.ints], [delta, *params, _delta(packed.ints)])


def _times(values: list[str], base_ms: int | None) -> Column | None:
    """A ``t`` column for ISO UTC times, None if they are not all of that form. Not exact
    by construction (a date may not exist, the units may be mixed): verified by the caller."""
    if not all(_ISO.match(v) for v in values):
        return None
    unit = 1000 if "." in values[0] else 1
    per = 1 if unit == 1000 else 1000
    try:
        stamps = [iso_to_ms(v) // per for v in values]
    except ValueError:  # matches the pattern, is no date: "2026-02-30T00:00:00Z"
        return None
    base = base_ms // per if base_ms is not None else stamps[0]
    return ["t", unit, base, [s - base for s in stamps]]


def encode_column(values: list[Any], base_ms: int | None = None) -> Column:
    """The first coding of ``values`` (see the module docstring) that decodes back to
    exactly ``values``; ``base_ms`` is the time ``t`` offsets count from."""
    count = len(values)
    first = values[0]
    if values.count(first) == count and len(set(map(type, values))) == 1:
        # One value by == and type. If not exactly one (0.0 and -0.0, [1] and [1.0]), no
        # other kind is exact either: raw.
        return ["c", first] if same([first] * count, values) else ["r", values]
    packed = pack_numeric(values, WIRE)
    if packed is not None:
        return _packed_column(packed)
    if type(first) is str and all(type(v) is str for v in values):
        times = _times(values, base_ms)
        if times is not None and _decodes_to(times, values):
            return times
        distinct = list(dict.fromkeys(values))
        if len(distinct) < count and len(distinct) <= 255:
            return ["e", distinct, [distinct.index(v) for v in values]]
    return ["r", values]


def _decodes_to(column: Column, values: list[Any]) -> bool:
    try:
        return same(_decode(column, len(values)), values)
    except (ColumnError, ValueError, OverflowError):
        return False


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
            return _scaled(args[1] if kind == "f" else _undelta(args[1]), scale)
        if kind in ("n", "N"):
            width = int(args[0])
            return _digits(args[1] if kind == "n" else _undelta(args[1]), width)
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
            rows.extend(_objects(keys, values))
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
# the reference's rows; every coded column is exact, as in a self-contained layout.

_MISSING = object()


def _entropy_bits(values: Sequence[Any]) -> float:
    """Order-0 entropy of ``values`` times their count: how zstd's entropy stage will see a
    column of small numbers (a proxy, cheap to compute, for choosing between two codings)."""
    n = len(values)
    return -sum(c * math.log2(c / n) for c in Counter(values).values())


def _delta_candidates(values: list[Any], refs: list[Any]) -> list[Column]:
    """Codings of ``values`` relative to the reference's values ``refs`` (same rows), each
    exact: ``=`` and ``d`` by construction, ``D`` decoded again and compared."""
    if any(r is _MISSING for r in refs):
        return []
    if same(values, refs):
        return [["="]]
    if all(type(v) is int for v in values) and all(type(r) is int for r in refs):
        return [["d", [v - r for v, r in zip(values, refs, strict=True)]]]
    if all(type(v) is float and math.isfinite(v) for v in values) and all(
        type(r) is float and math.isfinite(r) for r in refs
    ):
        for scale in range(_MAX_SCALE + 1):
            factor = 10**scale
            try:
                ints = [round(v * factor) for v in values]
                bases = [round(r * factor) for r in refs]
            except OverflowError:
                return []
            if _within(ints, WIRE.scaled_range) and _within(bases, WIRE.scaled_range):
                column = ["D", scale, [a - b for a, b in zip(ints, bases, strict=True)]]
                if same(_decode_delta(column, refs), values):
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
    candidates = _delta_candidates(values, refs)
    if candidates and candidates[0][0] == "=":
        return candidates[0]  # nothing is shorter than "="; no need for the plain coding
    plain = encode_column(values, base_ms)
    for column in candidates:
        if plain[0] == "r":
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
            rows.extend(_objects(keys, values))
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


# -- store profile: tables of packed columns (docs/decisions/0006-outbox-durability.md) ----
#
# The CBOR tags are private to the store (first-come-first-served range, unlikely to
# collide); they never leave the gateway: the publisher encodes its own payload from the
# decoded document (docs/uplink.md). Their meaning is fixed by the format 1 blobs already on
# disk, which are never migrated.
TAG_TABLE = 48_001  # [keys, columns]: a list of objects with identical keys
TAG_PACKED = 48_002  # [code, param, bytes]: a column packed as shuffled int64 (PACK_*)


def store_encode(document: Any) -> bytes:
    """The CBOR of ``document`` in the store profile: exact, types and key order included,
    with every list of at least two objects that have the same keys in the same order laid
    out as a table of columns, numeric columns packed."""
    return cbor2.dumps(_store_value(document))


def store_decode(data: bytes) -> Any:
    """The document that :func:`store_encode` made ``data`` from.

    :class:`ValueError` (:class:`cbor2.CBORDecodeError` is one) if ``data`` is not that.
    """
    return cbor2.loads(data, tag_hook=_store_tag_hook)


def _store_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _store_value(v) for k, v in value.items()}
    if isinstance(value, list):
        keys = _table_keys(value)
        if keys is None:
            return [_store_value(v) for v in value]
        columns = [_store_column([row[k] for row in value]) for k in keys]
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


def _store_column(values: list[Any]) -> Any:
    packed = pack_numeric(values, STORE)
    if packed is None:
        return [_store_value(v) for v in values]
    return cbor2.CBORTag(TAG_PACKED, [packed.code, packed.param, _shuffle(packed.ints)])


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


def _store_tag_hook(first: Any, second: Any) -> Any:
    # cbor2 5 calls tag_hook(decoder, tag), cbor2 6 tag_hook(tag, immutable); take either.
    tag = first if isinstance(first, cbor2.CBORTag) else second
    if tag.tag == TAG_PACKED:
        code, param, data = tag.value
        ints = _unshuffle(data)
        if code == PACK_INT:
            return ints
        if code == PACK_SCALED:
            return _scaled(ints, param)
        if code == PACK_DIGITS:
            return _digits(ints, param)
        raise ValueError(f"unknown packed column code {code}")
    if tag.tag == TAG_TABLE:
        keys, columns = tag.value
        columns = [_thawed(c) if type(c) is tuple else c for c in columns]  # raw columns
        if len(keys) != len(columns):
            raise ValueError("stored table has not one column per key")
        return _objects(keys, columns)
    return tag


# What cbor2 6 decodes a tag's content to: arrays as tuples, maps as its own frozendict.
_FROZEN: set[type] = {tuple} | {
    getattr(cbor2, name) for name in ("frozendict", "FrozenDict") if hasattr(cbor2, name)
}


def _thawed(column: tuple[Any, ...]) -> Sequence[Any]:
    """A raw column with its cells as they were stored: a cell may hold a list or an object,
    which cbor2 gives back immutable inside the table's tag."""
    if _FROZEN.isdisjoint(map(type, column)):
        return column
    return [_thaw(v) for v in column]


def _thaw(value: Any) -> Any:
    kind = type(value)
    if kind is tuple or kind is list:
        return [_thaw(v) for v in value]
    if kind in _FROZEN or kind is dict:
        return {k: _thaw(v) for k, v in value.items()}
    return value
