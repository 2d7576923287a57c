"""ABB B23 electricity meters (wireless M-Bus): driver ``abbb23``.

Facts (the triple, field names, the records they come from) as wmbusmeters' driver
definition drivers/src/abbb23.xmq declares them. The main registers are standard records;
the transformer ratios, the error/warning/information/alarm flags and the product number
are manufacturer-specific records (VIF 0xFF) known by their exact headers.

Why code and not a data driver: the meter sends its product number as a manufacturer
record holding plain text in the order it is read (``001-111 32B``), not reversed as a
standard text record is, so the record's bytes are printed as they come.
"""

from __future__ import annotations

from protocols.meters.base import Fields
from protocols.meters.fieldspec import Attr, FieldSpec, KeyMatch, Match, Quantity, field
from protocols.meters.lookup import BitLookup
from protocols.meters.mfct import record_by_key
from protocols.meters.specdriver import SpecDriver
from protocols.records.model import VifRange
from protocols.telegram import Telegram

# The meter adds VIFE 0x00 to its standard registers (an empty combinable).
_PLAIN = frozenset({0x00})
_PRODUCT_NO = "0DFFAA00"


def _energy(name: str, info: str, *, tariff: int = 0, subunit: int = 0) -> FieldSpec:
    return field(
        name,
        Quantity.ENERGY,
        Match(VifRange.ENERGY, tariff=tariff, subunit=subunit, combinables=_PLAIN),
        info=info,
    )


def _factor(name: str, key: str, info: str) -> FieldSpec:
    # Transformer ratios: plain integers printed with the suffix the family's users know.
    return field(name, Quantity.DIMENSIONLESS, KeyMatch(key), raw=True, unit="factor", info=info)


def _flags(name: str, key: str, lookup: BitLookup, attrs: Attr, info: str) -> FieldSpec:
    return field(name, Quantity.TEXT, KeyMatch(key), lookup=lookup, attrs=attrs, info=info)


# No bit meanings are published: set bits are reported as <NAME>_<HEX>.
_ERROR = BitLookup("ERROR_FLAGS", {}, default="OK")
_WARNING = BitLookup("WARNING_FLAGS", {}, default="OK")
_INFORMATION = BitLookup("INFORMATION_FLAGS", {}, default="")
_ALARM = BitLookup("ALARM_FLAGS", {}, default="OK")

_SPECS: tuple[FieldSpec, ...] = (
    # status: the error, warning and alarm flags and the TPL status byte.
    _flags("status", "07FFA600", _ERROR, Attr.STATUS | Attr.INCLUDE_TPL_STATUS, "Status."),
    _energy("total_energy_consumption", "Active energy imported."),
    *(
        _energy(
            f"total_energy_consumption_tariff_{t}", f"Active energy imported, tariff {t}.", tariff=t
        )
        for t in range(1, 5)
    ),
    _energy("total_energy_production", "Active energy exported.", subunit=1),
    *(
        _energy(
            f"total_energy_production_tariff_{t}",
            f"Active energy exported, tariff {t}.",
            tariff=t,
            subunit=1,
        )
        for t in range(1, 5)
    ),
    field(
        "active_tariff",
        Quantity.DIMENSIONLESS,
        KeyMatch("01FF9300"),
        raw=True,
        info="The tariff in use now.",
    ),
    _factor("ct_numerator", "04FFA015", "Current transformer ratio, numerator."),
    _factor("vt_numerator", "04FFA115", "Voltage transformer ratio, numerator."),
    _factor("ct_denominator", "04FFA215", "Current transformer ratio, denominator."),
    _factor("vt_denominator", "04FFA315", "Voltage transformer ratio, denominator."),
    _flags("error_flags", "07FFA600", _ERROR, Attr.INJECT_INTO_STATUS, "Error flags."),
    _flags("warning_flags", "07FFA700", _WARNING, Attr.INJECT_INTO_STATUS, "Warning flags."),
    _flags("information_flags", "07FFA800", _INFORMATION, Attr.NONE, "Information flags."),
    _flags("alarm_flags", "07FFA900", _ALARM, Attr.INJECT_INTO_STATUS, "Alarm flags."),
    field(
        "firmware_version",
        Quantity.TEXT,
        Match(VifRange.FIRMWARE_VERSION, combinables=_PLAIN),
        info="Firmware version.",
    ),
    field(
        "power_fail",
        Quantity.DIMENSIONLESS,
        KeyMatch("04FF9800"),
        raw=True,
        info="Power failures counted.",
    ),
    field(
        "active_consumption",
        Quantity.POWER,
        Match(VifRange.POWER, combinables=_PLAIN),
        info="Active power imported now.",
    ),
)


class AbbB23(SpecDriver):
    """ABB B23 meters: the declared fields plus the product number (see the module doc)."""

    def __init__(self) -> None:
        super().__init__("abbb23", (("ABB", 0x20, 0x02),), _SPECS)

    def fields(self, telegram: Telegram) -> Fields:
        """The declared fields and ``product_no`` as the meter writes it."""
        out = super().fields(telegram)
        record = record_by_key(telegram, _PRODUCT_NO)
        if record is not None and isinstance(record.raw, bytes):
            out["product_no"] = record.raw.decode("latin-1")
        return out


DRIVERS = (AbbB23(),)
