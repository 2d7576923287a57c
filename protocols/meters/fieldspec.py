"""Declarative field specifications: which data record becomes which decoded field.

A driver is a list of :class:`FieldSpec`. Each names an output field (without its unit
suffix), its :class:`Quantity` (which gives the suffix: ``total`` + Volume = ``total_m3``),
how to recognise its record (:class:`Match` by function, VIF range, storage, tariff,
subunit and combinable VIFEs, or :class:`KeyMatch` by the exact DIF/VIF bytes) and, for
status words, a lookup turning bits into flags. :class:`SpecDriver` (specdriver.py)
evaluates such a list against a telegram.

Matching defaults follow what meters mean by an unqualified register: storage 0 (the
current value, not a billing-date copy), tariff 0, subunit 0, and no combinable VIFE. A
record that carries a combinable (``0x3C`` backward flow, a manufacturer VIFE, ...) is a
different quantity from the plain one, so a matcher that does not ask for combinables does
not match it: energy *produced* must never be reported as energy consumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, Flag, auto

from protocols.meters.lookup import Lookup
from protocols.records.model import Function, Record, VifRange

# Combinable (orthogonal) VIFE codes, EN 13757-3 table 15, E bit cleared.
BACKWARD_FLOW = 0x3C  # accumulation of the absolute value of negative contributions only


class Quantity(Enum):
    """What a field measures; :attr:`suffix` is the unit suffix of its printed name."""

    VOLUME = "volume"
    ENERGY = "energy"
    TEMPERATURE = "temperature"
    FLOW = "flow"
    POWER = "power"
    PRESSURE = "pressure"
    TIME = "time"
    DIMENSIONLESS = "dimensionless"
    TEXT = "text"
    DATE = "date"  # a date or date-time as the record parser prints it
    HCA = "hca"  # heat cost allocation units
    VOLTAGE = "voltage"
    CURRENT = "current"
    FREQUENCY = "frequency"
    REACTIVE_ENERGY = "reactive_energy"
    APPARENT_ENERGY = "apparent_energy"
    RELATIVE_HUMIDITY = "relative_humidity"

    @property
    def suffix(self) -> str:
        """``m3``, ``kwh``, ... or ``""`` for texts and dates."""
        return _SUFFIX[self]


_SUFFIX = {
    Quantity.VOLUME: "m3",
    Quantity.ENERGY: "kwh",
    Quantity.TEMPERATURE: "c",
    Quantity.FLOW: "m3h",
    Quantity.POWER: "kw",
    Quantity.PRESSURE: "bar",
    Quantity.TIME: "h",
    Quantity.DIMENSIONLESS: "counter",
    Quantity.TEXT: "",
    Quantity.DATE: "",
    Quantity.HCA: "hca",
    Quantity.VOLTAGE: "v",
    Quantity.CURRENT: "a",
    Quantity.FREQUENCY: "hz",
    Quantity.REACTIVE_ENERGY: "kvarh",
    Quantity.APPARENT_ENERGY: "kvah",
    Quantity.RELATIVE_HUMIDITY: "rh",
}


class Attr(Flag):
    """How a field takes part in the output beyond its own value."""

    NONE = 0
    STATUS = auto()  # this is the driver's ``status``: printed always, built from all parts
    INCLUDE_TPL_STATUS = auto()  # ``status`` also carries the flags of the TPL status byte
    INJECT_INTO_STATUS = auto()  # this field's flags are merged into ``status``
    HIDE = auto()  # computed (for injection) but not printed


def _span(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else value


def _combinables(record: Record) -> tuple[frozenset[int], frozenset[int]]:
    """The record's combinable VIFEs and manufacturer VIFEs, E bits cleared.

    Whether a parser keeps the E bit, and whether it lists the ``0x7F`` "manufacturer
    VIFEs follow" marker and what comes after it among the combinables, is its own
    choice; this reads either form the same way.
    """
    codes = [code & 0x7F for code in record.combinables]
    mfct = {code & 0x7F for code in record.manufacturer_vifes}
    if 0x7F in codes:
        at = codes.index(0x7F)
        mfct.update(codes[at + 1 :])
        del codes[at:]
    return frozenset(codes), frozenset(mfct)


@dataclass(frozen=True, slots=True)
class Match:
    """A record matcher by what the record measures.

    ``storage``, ``tariff`` and ``subunit`` are a number or an inclusive (low, high) span.
    ``combinables`` are combinable VIFE codes that must all be present (E bit cleared, e.g.
    :data:`BACKWARD_FLOW`); ``mfct_combinables`` the manufacturer-specific VIFEs that
    follow a ``0xFF`` VIFE (Kamstrup's ``FF 21`` on operating time). With neither given,
    records that carry any combinable do not match.
    """

    vif: VifRange
    function: Function = Function.INSTANTANEOUS
    storage: int | tuple[int, int] = 0
    tariff: int | tuple[int, int] = 0
    subunit: int | tuple[int, int] = 0
    combinables: frozenset[int] = frozenset()
    mfct_combinables: frozenset[int] = frozenset()

    def matches(self, record: Record) -> bool:
        """True when ``record`` is this matcher's record."""
        if record.vif_range is not self.vif or record.function is not self.function:
            return False
        for number, span in (
            (record.storage, self.storage),
            (record.tariff, self.tariff),
            (record.subunit, self.subunit),
        ):
            low, high = _span(span)
            if not low <= number <= high:
                return False
        combinables, mfct = _combinables(record)
        if not self.combinables and not self.mfct_combinables:
            return not combinables and not mfct
        return self.combinables <= combinables and self.mfct_combinables <= mfct


@dataclass(frozen=True, slots=True)
class KeyMatch:
    """A record matcher by its exact DIF/DIFE/VIF/VIFE bytes, as hex (``"04FF23"``).

    Used for manufacturer-specific records, which have no standard meaning to match on.
    """

    key: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", bytes.fromhex(self.key).hex().upper())

    def matches(self, record: Record) -> bool:
        """True when ``record`` has exactly this header."""
        return record.key == self.key


Matcher = Match | KeyMatch


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One output field of a driver.

    ``name`` is without unit suffix and may contain ``{subunit}``, replaced by the record's
    subunit number (``total_volume_subunit{subunit}`` -> ``total_volume_subunit1_m3``).
    ``raw`` prints the record's unscaled value (manufacturer counters whose VIF says
    nothing about scale); ``unit`` overrides the suffix the quantity gives (``m3c``).
    When several records match, the first one in the telegram wins.
    """

    name: str
    quantity: Quantity
    match: tuple[Matcher, ...]
    lookup: Lookup | None = None
    attrs: Attr = Attr.NONE
    raw: bool = False
    unit: str | None = None
    info: str = ""

    def output_name(self, subunit: int = 0) -> str:
        """The printed name of this field (suffix and ``subunit`` filled in)."""
        name = self.name.format(subunit=subunit) if "{" in self.name else self.name
        suffix = self.quantity.suffix if self.unit is None else self.unit
        return f"{name}_{suffix}" if suffix else name

    def matches(self, record: Record) -> bool:
        """True when any of this field's matchers matches ``record``."""
        return any(matcher.matches(record) for matcher in self.match)


def field(
    name: str,
    quantity: Quantity,
    *match: Matcher | str,
    lookup: Lookup | None = None,
    attrs: Attr = Attr.NONE,
    raw: bool = False,
    unit: str | None = None,
    info: str = "",
) -> FieldSpec:
    """A :class:`FieldSpec`; a plain string matcher is a :class:`KeyMatch` (``"04FF23"``)."""
    matchers = tuple(KeyMatch(m) if isinstance(m, str) else m for m in match)
    if not matchers:
        raise ValueError(f"field {name} has no matcher")
    return FieldSpec(name, quantity, matchers, lookup, attrs, raw, unit, info)


# Standard fields shared by drivers; drivers pick the ones their meters send with library().
_LIBRARY = (
    field("total", Quantity.VOLUME, Match(VifRange.VOLUME), info="Total volume."),
    field(
        "target",
        Quantity.VOLUME,
        Match(VifRange.VOLUME, storage=1),
        info="Volume at the last billing date.",
    ),
    field(
        "target_date", Quantity.DATE, Match(VifRange.DATE, storage=1), info="The last billing date."
    ),
    field("meter_date", Quantity.DATE, Match(VifRange.DATE), info="The meter's date."),
    field(
        "meter_datetime",
        Quantity.DATE,
        Match(VifRange.DATE_TIME),
        info="The meter's date and time.",
    ),
    field(
        "fabrication_no", Quantity.TEXT, Match(VifRange.FABRICATION_NO), info="Fabrication number."
    ),
    field(
        "on_time",
        Quantity.TIME,
        Match(VifRange.ON_TIME),
        info="How long the meter has been powered.",
    ),
    field(
        "on_time_at_error",
        Quantity.TIME,
        Match(VifRange.ON_TIME, Function.ERROR_STATE),
        info="How long the meter has been in an error state.",
    ),
    field(
        "flow_return_temperature_difference",
        Quantity.TEMPERATURE,
        Match(VifRange.TEMPERATURE_DIFFERENCE),
        info="Flow minus return temperature.",
    ),
)
LIBRARY: dict[str, FieldSpec] = {spec.output_name(): spec for spec in _LIBRARY}


def library(*names: str) -> tuple[FieldSpec, ...]:
    """The standard fields with these printed names (``total_m3``, ``target_date``, ...)."""
    return tuple(LIBRARY[name] for name in names)
