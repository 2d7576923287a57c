"""Evaluating a list of field specifications against telegrams, fast.

Everything a matcher looks at (function, storage, tariff, subunit, VIF range, combinables,
the key) is determined by the record's DIF/VIF header bytes. A meter family sends a handful
of distinct headers, so :class:`SpecDriver` decides once per header which fields it feeds
and how its value is converted, and afterwards a record costs one dict lookup. The memo is
bounded, so a stream of garbage headers cannot grow it without limit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from protocols.meters.base import Fields, FieldValue, Mvt
from protocols.meters.fieldspec import Attr, FieldSpec, Quantity
from protocols.meters.lookup import Lookup, join_status, tpl_status_flags
from protocols.records.model import Record
from protocols.telegram import Telegram

Convert = Callable[[Record], FieldValue]
# (printed name, printed?, injected into status?, converter)
Action = tuple[str, bool, bool, Convert]
# An action of a whole telegram: (index of the record it reads, then as Action)
Step = tuple[int, str, bool, bool, Convert]

_MAX_PLANS = 4096

# Record units (Record.unit) that are not the canonical unit of a quantity, with the
# factor to it. A record parser normalises units already; this keeps a driver right if a
# quantity arrives in another unit of the same dimension.
_FACTORS: dict[Quantity, dict[str, float]] = {
    Quantity.ENERGY: {"wh": 1e-3, "mwh": 1e3, "j": 1 / 3.6e6, "kj": 1 / 3600, "mj": 1 / 3.6},
    Quantity.POWER: {"w": 1e-3, "mw": 1e3},
    Quantity.TIME: {"s": 1 / 3600, "min": 1 / 60, "d": 24},
    Quantity.VOLUME: {"l": 1e-3},
    Quantity.FLOW: {"lh": 1e-3, "l/h": 1e-3},
}


# Decoded JSON carries six decimals, as the reader whose field names users already know
# prints them (``"alfa_counter": 0.001246``); rounding here keeps float noise of the
# scaling (1.4000000000000001) out of the output too.
_DECIMALS = 6


def _integer(record: Record) -> int:
    """The record's unscaled integer: its raw value, or its data bytes little-endian."""
    raw = record.raw
    if isinstance(raw, int):
        return raw
    return int.from_bytes(record.data, "little")


def _raw_number(record: Record) -> FieldValue:
    raw = record.raw
    if isinstance(raw, float):
        return round(raw, _DECIMALS)
    if isinstance(raw, int):
        return raw
    return int.from_bytes(record.data, "little")


def _text(record: Record) -> FieldValue:
    # Identification numbers are BCD or binary; printed as the hex digits of the number
    # (data bytes are little-endian), which for BCD is the number as written on the meter.
    value = record.value
    if isinstance(value, str):
        return value
    return record.data[::-1].hex().upper()


def _date(record: Record) -> FieldValue:
    value = record.value
    return value if isinstance(value, str) else None


def _number(record: Record) -> FieldValue:
    value = record.value
    if isinstance(value, float):
        return round(value, _DECIMALS)
    return value if isinstance(value, int) else None


def _lookup(lookup: Lookup) -> Convert:
    return lambda record: lookup(_integer(record))


def _scaled(factor: float) -> Convert:
    def convert(record: Record) -> FieldValue:
        value = record.value
        return round(value * factor, _DECIMALS) if isinstance(value, int | float) else None

    return convert


def _converter(spec: FieldSpec, record: Record) -> Convert:
    if spec.lookup is not None:
        return _lookup(spec.lookup)
    if spec.raw:
        return _raw_number
    if spec.quantity is Quantity.TEXT:
        return _text
    if spec.quantity is Quantity.DATE:
        return _date
    factor = _FACTORS.get(spec.quantity, {}).get(record.unit.lower())
    return _number if factor is None else _scaled(factor)


class SpecDriver:
    """A :class:`~protocols.meters.base.MeterDriver` defined by field specifications.

    ``status`` is printed when a spec has :attr:`Attr.STATUS`: the set flags of that spec,
    of every :attr:`Attr.INJECT_INTO_STATUS` spec and (with
    :attr:`Attr.INCLUDE_TPL_STATUS`) of the TPL status byte, or ``OK``.
    """

    def __init__(
        self,
        name: str,
        mvt: Iterable[Mvt],
        specs: Iterable[FieldSpec],
        compact_layouts: Iterable[str | bytes] = (),
        aliases: Iterable[str] = (),
    ) -> None:
        self._name = name
        self._mvt = frozenset(mvt)
        self.specs = tuple(specs)
        self._layouts = tuple(
            bytes.fromhex(layout) if isinstance(layout, str) else layout
            for layout in compact_layouts
        )
        self.aliases = tuple(aliases)
        attrs = Attr.NONE
        for spec in self.specs:
            attrs |= spec.attrs
        self._has_status = Attr.STATUS in attrs
        self._tpl_status = Attr.INCLUDE_TPL_STATUS in attrs
        self._plans: dict[bytes, tuple[Action, ...]] = {}
        self._layout_plans: dict[tuple[bytes, ...], tuple[Step, ...]] = {}

    @property
    def name(self) -> str:
        """The driver's name as printed in ``meter``."""
        return self._name

    @property
    def mvt(self) -> frozenset[Mvt]:
        """The (manufacturer, version, device type) triples this driver serves."""
        return self._mvt

    @property
    def compact_layouts(self) -> tuple[bytes, ...]:
        """DIF/VIF layouts of the compact frames these meters send."""
        return self._layouts

    def _plan(self, record: Record) -> tuple[Action, ...]:
        actions = []
        for spec in self.specs:
            if not spec.matches(record):
                continue
            status_part = bool(spec.attrs & (Attr.STATUS | Attr.INJECT_INTO_STATUS))
            printed = not spec.attrs & (Attr.STATUS | Attr.HIDE)
            name = spec.output_name(record.subunit)
            actions.append((name, printed, status_part, _converter(spec, record)))
        if len(self._plans) >= _MAX_PLANS:
            self._plans.clear()
        plan = self._plans[record.header] = tuple(actions)
        return plan

    def _layout_plan(
        self, layout: tuple[bytes, ...], records: tuple[Record, ...]
    ) -> tuple[Step, ...]:
        """The steps for telegrams whose records have these headers, in this order."""
        steps: list[Step] = []
        done: set[str] = set()
        plans = self._plans
        for index, record in enumerate(records):
            plan = plans.get(record.header)
            if plan is None:
                plan = self._plan(record)
            for name, printed, status_part, convert in plan:
                if name in done:  # the first matching record wins
                    continue
                done.add(name)
                steps.append((index, name, printed, status_part, convert))
        if len(self._layout_plans) >= _MAX_PLANS:
            self._layout_plans.clear()
        plan_of_layout = self._layout_plans[layout] = tuple(steps)
        return plan_of_layout

    def fields(self, telegram: Telegram) -> Fields:
        """The decoded fields of one telegram (without id, manufacturer, media, meter)."""
        out: Fields = {}
        flags: list[str] = []
        records = telegram.records
        # A meter sends the same few layouts over and over: which record feeds which field
        # is worked out once per layout (the headers decide it all, see the module doc).
        layout = tuple([record.header for record in records])
        steps = self._layout_plans.get(layout)
        if steps is None:
            steps = self._layout_plan(layout, records)
        for index, name, printed, status_part, convert in steps:
            value = convert(records[index])
            if printed:
                out[name] = value
            if status_part and isinstance(value, str):
                flags.append(value)
        if self._has_status:
            if self._tpl_status:
                flags.extend(tpl_status_flags(telegram.status))
            out["status"] = join_status(flags)
        return out

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._name}>"
