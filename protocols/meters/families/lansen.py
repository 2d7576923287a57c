"""Lansen wireless M-Bus sensors: door/window detector, pulse counter, repeater, smoke
detector and temperature/humidity sensor (drivers ``lansendw``, ``lansenpu``,
``lansenrp``, ``lansensm``, ``lansenth``).

Every value is a standard record, so the fields are plain field specifications. What needs
code is the TPL status byte: Lansen uses manufacturer bit 0x40 for an opened enclosure
(``SABOTAGE_ENCLOSURE``) in ``status``; the door/window detector's ``status`` is the door
state instead, and it reports the TPL flags in ``error_flags``, where the manufacturer bits
keep their generic ``UNKNOWN_<HEX>`` names. The repeater's weekday list is printed A-Z.

Facts (meter triples, field names, records, lookup values) as the wmbusmeters drivers
drivers/src/lansendw.xmq, lansenpu.xmq, lansenrp.xmq, lansensm.xmq and lansenth.xmq
declare them; the telegrams of our test vectors.
"""

from __future__ import annotations

from collections.abc import Iterable

from protocols.meters.base import Fields, Mvt
from protocols.meters.fieldspec import Attr, FieldSpec, Match, Quantity, field
from protocols.meters.generic import status_flags
from protocols.meters.lookup import BitLookup, IndexLookup, join_status
from protocols.meters.specdriver import SpecDriver
from protocols.records.model import VifRange
from protocols.telegram import Telegram

_SABOTAGE = 0x40  # TPL status, manufacturer bit: the enclosure was opened
_CONFORMANT = 0x1D  # VIFE "standard conformant data content", sent on the error flags


def _lansen_tpl_flags(status: int | None) -> list[str]:
    """The TPL status byte's flags with Lansen's name for bit 0x40."""
    if not status:
        return []
    flags = status_flags(status & ~_SABOTAGE)
    if status & _SABOTAGE:
        flags.append("SABOTAGE_ENCLOSURE")
    return flags


def _error_flags(bits: dict[int, str] | None = None, mask: int = 0xFFFFFFFF) -> BitLookup:
    return BitLookup("ERROR_FLAGS", bits or {}, mask, "OK")


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


class LansenDriver:
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
        self._spec = SpecDriver(name, mvt, specs)
        self._tpl_into = tpl_into
        self._sorted = sorted_fields
        self.aliases: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The driver's name as printed in ``meter``."""
        return self._spec.name

    @property
    def mvt(self) -> frozenset[Mvt]:
        """The (manufacturer, version, device type) triples this driver serves."""
        return self._spec.mvt

    @property
    def compact_layouts(self) -> tuple[bytes, ...]:
        """None: these sensors send full frames."""
        return ()

    def fields(self, telegram: Telegram) -> Fields:
        """The declared fields, with the TPL status flags merged into ``tpl_into``."""
        out = self._spec.fields(telegram)
        for name in self._sorted:
            value = out.get(name)
            if isinstance(value, str):
                out[name] = " ".join(sorted(value.split()))
        if self._tpl_into == "status":
            tpl = _lansen_tpl_flags(telegram.status)
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

LANSENPU = LansenDriver(
    "lansenpu",
    [("LAS", 0x14, 0x00), ("LAS", 0x1B, 0x00), ("LAS", 0x0B, 0x02)],
    [
        _status(_error_flags()),
        _counter("a", "0EFD3A", info="Pulses counted on input a."),
        _counter("b", "8E40FD3A", info="Pulses counted on input b."),
    ],
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

LANSENSM = LansenDriver(
    "lansensm",
    [("LAS", 0x03, 0x1A)],
    [
        _status(
            _error_flags(
                {
                    0x0002: "LOW_BATTERY",
                    0x0004: "SMOKE",
                    0x0008: "MANUAL_TEST",
                    0x0010: "MALFUNCTION",
                    0x0020: "NO_CONNECTION_TO_SMOKE_DETECTOR",
                    0x0100: "SMOKE_SENSOR_END_OF_LIFE",
                },
                0xFFFF,
            )
        ),
        _counter("async_msg_id", Match(VifRange.ACCESS_NUMBER)),
        _counter("minutes_since_last_manual_test", Match(VifRange.DIMENSIONLESS)),
    ],
)

LANSENTH = LansenDriver(
    "lansenth",
    [("LAS", 0x07, 0x1B), ("LAS", 0x09, 0x1B)],
    [
        _status(_error_flags()),
        field("current_temperature", Quantity.TEMPERATURE, Match(VifRange.EXTERNAL_TEMPERATURE)),
        field(
            "current_relative_humidity",
            Quantity.RELATIVE_HUMIDITY,
            Match(VifRange.RELATIVE_HUMIDITY),
        ),
        # Storage 1 holds the averages over the last hour, storage 2 over the last day.
        field(
            "average_temperature_1h",
            Quantity.TEMPERATURE,
            Match(VifRange.EXTERNAL_TEMPERATURE, storage=1),
        ),
        field(
            "average_relative_humidity_1h",
            Quantity.RELATIVE_HUMIDITY,
            Match(VifRange.RELATIVE_HUMIDITY, storage=1),
        ),
        field(
            "average_temperature_24h",
            Quantity.TEMPERATURE,
            Match(VifRange.EXTERNAL_TEMPERATURE, storage=2),
        ),
        field(
            "average_relative_humidity_24h",
            Quantity.RELATIVE_HUMIDITY,
            Match(VifRange.RELATIVE_HUMIDITY, storage=2),
        ),
        field("on_time", Quantity.TIME, Match(VifRange.ON_TIME)),
    ],
)

DRIVERS: tuple[LansenDriver, ...] = (LANSENDW, LANSENPU, LANSENRP, LANSENSM, LANSENTH)
