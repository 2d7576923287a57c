"""Meter drivers as data: a TOML table turned into a driver (docs/meters.md, "Drivers as
data"; decision 0010).

A data driver declares what a driver of :mod:`protocols.meters.specdriver` declares in
Python: its name and aliases, the (manufacturer, version, device type) triples it serves,
its fields (name, quantity, the record each comes from) and its status lookups. With
``base = "generic"`` (the default) every standard record is named as the generic OMS
driver names it first, ``renames`` then give the family's own names, and ``field`` entries
add or replace fields; with ``base = "none"`` only the declared fields are printed.

This module is pure: it validates a table already parsed (``tomllib``) and names the
source and the key of anything wrong, :class:`DriverDataError`. Reading the files is the
caller's (:mod:`protocols.meters.builtin_data` for the package's own, the daemon for
``drivers.dir``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from protocols.meters.base import Fields, Mvt
from protocols.meters.fieldspec import Attr, FieldSpec, KeyMatch, Match, Matcher, Quantity
from protocols.meters.generic import GenericDriver
from protocols.meters.lookup import BitLookup, IndexLookup, Lookup, join_status
from protocols.meters.mfct import TPL_MANUFACTURER_BITS, NamedDriver, tpl_flags_named
from protocols.meters.specdriver import SpecDriver
from protocols.records.model import Function, VifRange
from protocols.telegram import Telegram

_GENERIC = GenericDriver()
_TOP_KEYS = frozenset(
    {
        "name",
        "aliases",
        "sources",
        "manufacturer",
        "models",
        "media",
        "link_modes",
        "base",
        "mvt",
        "renames",
        "drop",
        "field",
        "lookup",
        "compact_layouts",
        "tpl_status",
    }
)
_FIELD_KEYS = frozenset(
    {"name", "quantity", "match", "lookup", "status", "inject_status", "hide", "raw", "unit"}
)
_FIELD_KEYS |= {"include_tpl_status", "info"}
_MATCH_KEYS = frozenset(
    {"vif", "function", "storage", "tariff", "subunit", "combinables", "mfct_combinables", "key"}
)
_LOOKUP_KEYS = frozenset({"kind", "mask", "default", "bits", "values"})
# The names a table may use, worked out once (every driver file is checked at start).
VIF_NAMES = tuple(v.value for v in VifRange)
FUNCTION_NAMES = tuple(f.value for f in Function)
QUANTITY_NAMES = tuple(q.value for q in Quantity)
MAX_FIELDS = 256  # a driver is a meter's fields, not a database
MAX_MVT = 512
# Placeholders of a field name that a storage or tariff span of its match expands.
_SPANNED = (("{storage}", "storage"), ("{tariff}", "tariff"))


class DriverDataError(ValueError):
    """A driver table is not valid: ``SOURCE: KEY: REASON``."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        super().__init__(f"{source}: {key}: {reason}")
        self.source = source
        self.key = key
        self.reason = reason


class DataDriver(NamedDriver):
    """A driver from a validated table (:func:`driver_from_table`)."""

    def __init__(
        self,
        name: str,
        mvt: frozenset[Mvt],
        *,
        generic_base: bool,
        renames: Mapping[str, str],
        drop: frozenset[str],
        specs: tuple[FieldSpec, ...],
        compact_layouts: tuple[bytes, ...] = (),
        aliases: tuple[str, ...] = (),
        about: Mapping[str, Any] | None = None,
        tpl_status: BitLookup | None = None,
    ) -> None:
        super().__init__(name, mvt, aliases)
        self.generic_base = generic_base
        self.renames = dict(renames)
        self.drop = drop
        self.specs = specs
        self.about = dict(about or {})  # manufacturer, models, media, link modes, sources
        self.tpl_status = tpl_status
        if tpl_status is not None:
            # The TPL flags are added in fields(), with the manufacturer bits named.
            specs = tuple(
                replace(spec, attrs=spec.attrs & ~Attr.INCLUDE_TPL_STATUS) for spec in specs
            )
        self._spec = SpecDriver(name, mvt, specs, compact_layouts, aliases)

    @property
    def compact_layouts(self) -> tuple[bytes, ...]:
        """DIF/VIF layouts of the compact frames these meters send."""
        return self._spec.compact_layouts

    def fields(self, telegram: Telegram) -> Fields:
        """The generic fields renamed (with ``base = "generic"``), then the declared ones."""
        declared = self._spec.fields(telegram) if self.specs else {}
        if self.tpl_status is not None:
            flags = tpl_flags_named(telegram.status, self.tpl_status)
            declared["status"] = join_status([str(declared.get("status", "OK")), *flags])
        if not self.generic_base:
            return declared
        out: Fields = {}
        for name, value in _GENERIC.fields(telegram).items():
            if name in self.drop:
                continue
            out[self.renames.get(name, name)] = value
        out.update(declared)
        return out

    def __repr__(self) -> str:
        return f"<DataDriver {self._name}>"


# -- validation ----------------------------------------------------------------------------


class _Checker:
    """Reads one table, raising DriverDataError with the source and the dotted key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, reason: str) -> DriverDataError:
        return DriverDataError(self.source, key, reason)

    def unknown(self, table: Mapping[str, Any], allowed: frozenset[str], prefix: str) -> None:
        for key in table:
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.fail(f"{prefix}{key}", f"unknown key (known: {known})")

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"must be a non-empty string, got {value!r}")
        return value

    def texts(self, value: Any, key: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(key, f"must be a list of strings, got {value!r}")
        return tuple(self.text(v, f"{key}[{i}]") for i, v in enumerate(value))

    def integer(self, value: Any, key: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(key, f"must be an integer {low}-{high}, got {value!r}")
        return value

    def span(self, value: Any, key: str) -> int | tuple[int, int]:
        if isinstance(value, list) and len(value) == 2:
            low = self.integer(value[0], f"{key}[0]", 0, 1 << 40)
            high = self.integer(value[1], f"{key}[1]", low, 1 << 40)
            return (low, high)
        return self.integer(value, key, 0, 1 << 40)

    def table(self, value: Any, key: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(key, f"must be a table, got {value!r}")
        return value

    def enum(self, value: Any, key: str, options: Sequence[str]) -> str:
        if value not in options:
            raise self.fail(key, f"must be one of {', '.join(options)}, got {value!r}")
        return str(value)


def _mvt(check: _Checker, value: Any) -> frozenset[Mvt]:
    if not isinstance(value, list) or not value or len(value) > MAX_MVT:
        raise check.fail("mvt", f"must be a list of 1-{MAX_MVT} [MAN, version, type] triples")
    out: set[Mvt] = set()
    for i, item in enumerate(value):
        key = f"mvt[{i}]"
        if not isinstance(item, list) or len(item) != 3:
            raise check.fail(key, f"must be [MAN, version, type], got {item!r}")
        man = check.text(item[0], f"{key}[0]")
        if len(man) != 3 or not man.isalpha() or not man.isupper():
            raise check.fail(f"{key}[0]", f"must be three capital letters, got {man!r}")
        version = check.integer(item[1], f"{key}[1]", 0, 255)
        device_type = check.integer(item[2], f"{key}[2]", 0, 255)
        out.add((man, version, device_type))
    return frozenset(out)


def _lookup(check: _Checker, name: str, value: Any) -> Lookup:
    prefix = f"lookup.{name}."
    table = check.table(value, f"lookup.{name}")
    check.unknown(table, _LOOKUP_KEYS, prefix)
    kind = check.enum(table.get("kind", "bits"), prefix + "kind", ("bits", "index"))
    mask = check.integer(table.get("mask", 0xFFFFFFFF), prefix + "mask", 1, 0xFFFFFFFF)
    entries = check.table(table.get("bits" if kind == "bits" else "values", {}), prefix + kind)
    parsed: dict[int, str] = {}
    for number, text in entries.items():
        key = f"{prefix}{'bits' if kind == 'bits' else 'values'}.{number}"
        try:
            parsed[int(number, 0)] = check.text(text, key)
        except ValueError:
            raise check.fail(key, "must be a number such as 0x04") from None
    try:
        if kind == "bits":
            default = table.get("default", "")
            if not isinstance(default, str):
                raise check.fail(prefix + "default", f"must be a string, got {default!r}")
            return BitLookup(name.upper(), parsed, mask, default)
        return IndexLookup(name.upper(), parsed, mask)
    except ValueError as err:
        raise check.fail(f"lookup.{name}", str(err)) from None


def _matcher(check: _Checker, value: Any, key: str) -> Matcher:
    table = check.table(value, key)
    check.unknown(table, _MATCH_KEYS, key + ".")
    if "key" in table:
        if len(table) > 1:
            raise check.fail(key, "key matches the exact DIF/VIF bytes: give nothing else")
        hex_key = check.text(table["key"], key + ".key")
        try:
            return KeyMatch(hex_key)
        except ValueError:
            raise check.fail(key + ".key", f"must be hex bytes, got {hex_key!r}") from None
    vif = check.enum(table.get("vif"), key + ".vif", VIF_NAMES)
    function = check.enum(table.get("function", "instantaneous"), key + ".function", FUNCTION_NAMES)
    combinables = frozenset(
        check.integer(c, f"{key}.combinables[{i}]", 0, 0x7F)
        for i, c in enumerate(table.get("combinables", []))
    )
    mfct = frozenset(
        check.integer(c, f"{key}.mfct_combinables[{i}]", 0, 0x7F)
        for i, c in enumerate(table.get("mfct_combinables", []))
    )
    return Match(
        VifRange(vif),
        Function(function),
        storage=check.span(table.get("storage", 0), key + ".storage"),
        tariff=check.span(table.get("tariff", 0), key + ".tariff"),
        subunit=check.span(table.get("subunit", 0), key + ".subunit"),
        combinables=combinables,
        mfct_combinables=mfct,
    )


def _field(check: _Checker, value: Any, index: int, lookups: Mapping[str, Lookup]) -> FieldSpec:
    key = f"field[{index}]"
    table = check.table(value, key)
    check.unknown(table, frozenset(_FIELD_KEYS), key + ".")
    name = check.text(table.get("name"), key + ".name")
    quantity = check.enum(table.get("quantity"), key + ".quantity", QUANTITY_NAMES)
    raw_matches = table.get("match")
    if isinstance(raw_matches, Mapping):
        raw_matches = [raw_matches]
    if not isinstance(raw_matches, list) or not raw_matches:
        raise check.fail(key + ".match", "must be a table or a list of tables")
    matchers = tuple(_matcher(check, m, f"{key}.match[{i}]") for i, m in enumerate(raw_matches))
    lookup = None
    if "lookup" in table:
        lookup_name = check.text(table["lookup"], key + ".lookup")
        if lookup_name not in lookups:
            raise check.fail(key + ".lookup", f"no [lookup.{lookup_name}] table")
        lookup = lookups[lookup_name]
    attrs = Attr.NONE
    for flag, attr in (
        ("status", Attr.STATUS),
        ("inject_status", Attr.INJECT_INTO_STATUS),
        ("hide", Attr.HIDE),
        ("include_tpl_status", Attr.INCLUDE_TPL_STATUS),
    ):
        if flag in table and not isinstance(table[flag], bool):
            raise check.fail(f"{key}.{flag}", f"must be true or false, got {table[flag]!r}")
        if table.get(flag):
            attrs |= attr
    raw = table.get("raw", False)
    if not isinstance(raw, bool):
        raise check.fail(key + ".raw", f"must be true or false, got {raw!r}")
    unit = table.get("unit")
    if unit is not None:
        unit = check.text(unit, key + ".unit")
    info = table.get("info", "")
    if not isinstance(info, str):
        raise check.fail(key + ".info", f"must be a string, got {info!r}")
    return FieldSpec(name, Quantity(quantity), matchers, lookup, attrs, raw, unit, info)


def _tpl_status(
    check: _Checker,
    table: Mapping[str, Any],
    lookups: Mapping[str, Lookup],
    specs: tuple[FieldSpec, ...],
) -> BitLookup | None:
    """The lookup ``tpl_status`` names for the TPL status byte's manufacturer bits."""
    if "tpl_status" not in table:
        return None
    name = check.text(table["tpl_status"], "tpl_status")
    lookup = lookups.get(name)
    if lookup is None:
        raise check.fail("tpl_status", f"no [lookup.{name}] table")
    if not isinstance(lookup, BitLookup):
        raise check.fail("tpl_status", f'[lookup.{name}] must be kind = "bits"')
    for bit in lookup.bits:
        if bit & ~TPL_MANUFACTURER_BITS:
            raise check.fail(
                f"lookup.{name}.bits",
                f"{bit:#04x} is not a manufacturer bit of the TPL status (0x20, 0x40, 0x80)",
            )
    if not any(Attr.STATUS in spec.attrs for spec in specs):
        raise check.fail("tpl_status", "needs a [[field]] with status = true")
    return lookup


def _pinned(matcher: Matcher, attr: str, number: int) -> Matcher:
    """``matcher`` with its storage or tariff (``attr``) set to ``number``."""
    if not isinstance(matcher, Match):
        return matcher
    if attr == "storage":
        return replace(matcher, storage=number)
    return replace(matcher, tariff=number)


def _expanded(check: _Checker, spec: FieldSpec, key: str) -> tuple[FieldSpec, ...]:
    """``spec`` once per storage (tariff) number of its match's span when its name holds
    ``{storage}`` (``{tariff}``), the number written in; else ``spec`` alone."""
    specs: tuple[FieldSpec, ...] = (spec,)
    for placeholder, attr in _SPANNED:
        if placeholder not in spec.name:
            continue
        spans = set()
        for matcher in spec.match:
            if not isinstance(matcher, Match):
                raise check.fail(key + ".name", f"{placeholder} needs matches by vif, not key")
            span = getattr(matcher, attr)
            spans.add((span, span) if isinstance(span, int) else span)
        if len(spans) != 1:
            raise check.fail(key + ".match", f"{placeholder}: every match needs the same {attr}")
        low, high = spans.pop()
        if high - low >= MAX_FIELDS:
            raise check.fail(f"{key}.match.{attr}", f"{placeholder}: span wider than {MAX_FIELDS}")
        specs = tuple(
            replace(
                one,
                name=one.name.replace(placeholder, str(number)),
                match=tuple(_pinned(m, attr, number) for m in one.match),
            )
            for one in specs
            for number in range(low, high + 1)
        )
    return specs


def driver_from_table(table: Mapping[str, Any], source: str) -> DataDriver:
    """The driver a parsed TOML table declares; :class:`DriverDataError` naming ``source``
    and the key when it is not valid."""
    check = _Checker(source)
    check.unknown(table, _TOP_KEYS, "")
    name = check.text(table.get("name"), "name")
    if not name.replace("_", "").isalnum() or name != name.lower():
        raise check.fail("name", f"must be lower-case letters, digits and _, got {name!r}")
    aliases = check.texts(table.get("aliases", []), "aliases")
    base = check.enum(table.get("base", "generic"), "base", ("generic", "none"))
    mvt = _mvt(check, table.get("mvt"))
    lookups = {
        n: _lookup(check, n, v) for n, v in check.table(table.get("lookup", {}), "lookup").items()
    }
    raw_fields = table.get("field", [])
    if not isinstance(raw_fields, list) or len(raw_fields) > MAX_FIELDS:
        raise check.fail("field", f"must be a list of at most {MAX_FIELDS} [[field]] tables")
    specs = tuple(
        spec
        for i, f in enumerate(raw_fields)
        for spec in _expanded(check, _field(check, f, i, lookups), f"field[{i}]")
    )
    if len(specs) > MAX_FIELDS:
        raise check.fail("field", f"more than {MAX_FIELDS} fields once spans are expanded")
    if base == "none" and not specs:
        raise check.fail("field", 'base = "none" needs at least one [[field]]')
    tpl_status = _tpl_status(check, table, lookups, specs)
    renames = {
        old: check.text(new, f"renames.{old}")
        for old, new in check.table(table.get("renames", {}), "renames").items()
    }
    drop = frozenset(check.texts(table.get("drop", []), "drop"))
    layouts = []
    for i, layout in enumerate(check.texts(table.get("compact_layouts", []), "compact_layouts")):
        try:
            layouts.append(bytes.fromhex(layout))
        except ValueError:
            raise check.fail(f"compact_layouts[{i}]", f"must be hex, got {layout!r}") from None
    about = {
        "manufacturer": table.get("manufacturer", ""),
        "models": list(check.texts(table.get("models", []), "models")),
        "media": table.get("media", ""),
        "link_modes": list(check.texts(table.get("link_modes", []), "link_modes")),
        "sources": list(check.texts(table.get("sources", []), "sources")),
    }
    return DataDriver(
        name,
        mvt,
        generic_base=base == "generic",
        renames=renames,
        drop=drop,
        specs=specs,
        compact_layouts=tuple(layouts),
        aliases=aliases,
        about=about,
        tpl_status=tpl_status,
    )
