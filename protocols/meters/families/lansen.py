"""Lansen door/window detectors and repeaters (drivers ``lansendw``, ``lansenrp``).

Every value is a standard record, so the fields are plain field specifications. What needs
code: the door/window detector's ``status`` is the door state, and it reports the TPL
flags in ``error_flags``, where the manufacturer bits keep their generic ``UNKNOWN_<HEX>``
names; the repeater's weekday list is printed A-Z. Elsewhere Lansen uses the TPL
manufacturer bit 0x40 for an opened enclosure (``SABOTAGE_ENCLOSURE``) in ``status``.

The pulse counter, smoke detector and temperature/humidity sensor need none of this: they
are data drivers (drivers/lansenpu.toml, lansensm.toml, lansenth.toml).

Facts (meter triples, field names, records, lookup values) as the wmbusmeters drivers
drivers/src/lansendw.xmq and lansenrp.xmq declare them; the telegrams of our test vectors.
"""

from __future__ import annotations

from collections.abc import Iterable

from protocols.meters.base import Fields, Mvt
from protocols.meters.fieldspec import Attr, FieldSpec, Match, Quantity, field
from protocols.meters.generic import status_flags
from protocols.meters.lookup import BitLookup, IndexLookup, join_status
from protocols.meters.mfct import NamedDriver, tpl_flags_named
from protocols.meters.specdriver import SpecDriver
from protocols.records.model import VifRange
from protocols.telegram import Telegram

_CONFORMANT = 0x1D  # VIFE "standard conformant data content", sent on the error flags
# TPL status, manufacturer bits: 0x40 the enclosure was opened; the others keep the names
# the generic driver gives them.
_LANSEN_TPL = BitLookup("UNKNOWN", {0x40: "SABOTAGE_ENCLOSURE"})


def _error_flags(mask: int = 0xFFFFFFFF) -> BitLookup:
    return BitLookup("ERROR_FLAGS", {}, mask, "OK")


# The error-flag record, sent with or without the "conformant content" VIFE.
_ERROR_FLAGS = (
    Match(VifRange.ERROR_FLAGS),
    Match(VifRange.ERROR_FLAGS, combinables=frozenset({_CONFORMANT})),
)


def _status(lookup: BitLookup) -> FieldSpec:
    return field("status", Quantity.TEXT, *_ERROR_FLAGS, lookup=lookup, attrs=Attr.STATUS)


def _counter(name: str, *match: Match | str, info: str = "") -> FieldSpec:
    # Counters and parameters: the record's integer, no scaling.
    return field(name, Quantity.DIMENSIONLESS, *match, raw=True, info=info)


class LansenDriver(NamedDriver):
    """A Lansen sensor: its field specifications, then the TPL status flags merged in.

    ``tpl_into`` names the field that carries the TPL flags: ``status`` (with Lansen's
    sabotage bit) or ``error_flags`` (the door/window detector, generic names). Fields in
    ``sorted_fields`` have their words printed A-Z.
    """

    def __init__(
        self,
        name: str,
        mvt: Iterable[Mvt],
        specs: Iterable[FieldSpec],
        *,
        tpl_into: str = "status",
        sorted_fields: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(name, mvt)
        self._spec = SpecDriver(name, self.mvt, specs)
        self._tpl_into = tpl_into
        self._sorted = sorted_fields

    def fields(self, telegram: Telegram) -> Fields:
        """The declared fields, with the TPL status flags merged into ``tpl_into``."""
        out = self._spec.fields(telegram)
        for name in self._sorted:
            value = out.get(name)
            if isinstance(value, str):
                out[name] = " ".join(sorted(value.split()))
        if self._tpl_into == "status":
            tpl = tpl_flags_named(telegram.status, _LANSEN_TPL)
        else:
            tpl = status_flags(telegram.status)
        current = out.get(self._tpl_into)
        out[self._tpl_into] = join_status([current if isinstance(current, str) else "", *tpl])
        return out


LANSENDW = LansenDriver(
    "lansendw",
    [("LAS", 0x07, 0x1D)],
    [
        field(
            "status",
            Quantity.TEXT,
            Match(VifRange.DIGITAL_INPUT),
            lookup=IndexLookup("INPUT_BITS", {0x11: "CLOSED", 0x55: "OPEN"}, 0xFFFF),
            info="Door or window: OPEN or CLOSED.",
        ),
        field("error_flags", Quantity.TEXT, *_ERROR_FLAGS, lookup=_error_flags(mask=0xFFFF)),
        _counter("a", Match(VifRange.DIMENSIONLESS), info="Times opened or closed."),
        _counter("b", Match(VifRange.DIMENSIONLESS, subunit=1), info="Pulses on input b."),
    ],
    tpl_into="error_flags",
)

# Repeater listening weekdays, one bit per day starting with Sunday.
_WEEKDAYS = BitLookup(
    "INPUT_BITS",
    {0x01: "SU", 0x02: "MO", 0x04: "TU", 0x08: "WE", 0x10: "TH", 0x20: "FR", 0x40: "SA"},
    0xFFFF,
)

LANSENRP = LansenDriver(
    "lansenrp",
    [("LAS", 0x0B, 0x32)],
    [
        _status(_error_flags()),
        _counter("total_routed_messages", Match(VifRange.DIMENSIONLESS)),
        _counter("used_router_slots", Match(VifRange.DIMENSIONLESS, subunit=1)),
        field("software_version", Quantity.TEXT, Match(VifRange.SOFTWARE_VERSION)),
        field(
            "is_repeater_listening",
            Quantity.TEXT,
            Match(VifRange.DIMENSIONLESS, subunit=2),
            lookup=IndexLookup("INPUT_BITS", {0x00: "NO", 0x01: "YES"}, 0x01),
        ),
        _counter("seconds_to_mode_change", Match(VifRange.DIMENSIONLESS, subunit=3)),
        _counter("listen_timer_value", Match(VifRange.DIMENSIONLESS, storage=1)),
        _counter("pause_timer_value", Match(VifRange.DIMENSIONLESS, storage=2)),
        field(
            "repeater_listening_on_weekdays",
            Quantity.TEXT,
            Match(VifRange.DIMENSIONLESS, storage=3),
            lookup=_WEEKDAYS,
        ),
        _counter(
            "start_time_value",
            Match(VifRange.DIMENSIONLESS, storage=4),
            info="Minutes after midnight; -1 when not used.",
        ),
        field("meter_datetime", Quantity.DATE, Match(VifRange.DATE_TIME)),
        field("battery", Quantity.VOLTAGE, Match(VifRange.VOLTAGE)),
    ],
    sorted_fields=frozenset({"repeater_listening_on_weekdays"}),
)

DRIVERS: tuple[LansenDriver, ...] = (LANSENDW, LANSENRP)
