"""BMT (Bergamo Meter Technology / Hydrometer) heat and water meters.

Drivers ``hydrocalm3``, ``hydrocalm4`` and ``iwmtx5``. Facts (triples, field names, which
record feeds which field, the manufacturer bits of the TPL status byte) as wmbusmeters'
driver definitions declare them: drivers/src/hydrocalm3.xmq, drivers/src/hydrocalm4.xmq,
src/driver_hydrocalm4.cc and src/driver_iwmtx5.cc; the iwmtx5 tamper bit as its test
output names it.

Why code and not a data driver:

- These meters use the manufacturer-specific bits 5-7 of the TPL status byte (EN 13757-7
  leaves them to the manufacturer): the HYDROCAL heat meters set 0x80 when the enclosure
  was opened, the iWM-TX5 water meters 0x40 on tampering. A data driver can only report
  those bits as ``TPL_STATUS_<HEX>``.
- The HYDROCAL-M3 sends its heating and cooling registers as records with identical
  headers, in a fixed order (heating energy, ..., cooling energy; heating volume, cooling
  volume, input C1, input C2): only the position tells them apart.
"""

from __future__ import annotations

from collections.abc import Iterable

from protocols.meters.base import Fields, FieldValue, Mvt
from protocols.meters.fieldspec import Attr, FieldSpec, Match, Quantity, field
from protocols.meters.lookup import BitLookup, join_status, tpl_status_flags
from protocols.meters.specdriver import SpecDriver
from protocols.records.model import Function, Record, VifRange
from protocols.telegram import Telegram

_TPL_STANDARD = 0x1F  # application status and the EN 13757 flags
_TPL_MANUFACTURER = 0xE0  # bits 5-7: the manufacturer's


class _BmtDriver(SpecDriver):
    """A :class:`SpecDriver` whose ``status`` also names the manufacturer TPL status bits."""

    def __init__(
        self,
        name: str,
        mvt: Iterable[Mvt],
        specs: Iterable[FieldSpec],
        tpl_bits: BitLookup,
    ) -> None:
        super().__init__(name, mvt, specs)
        self.tpl_bits = tpl_bits

    def fields(self, telegram: Telegram) -> Fields:
        """The declared fields; ``status`` with the TPL flags, manufacturer bits named."""
        out = super().fields(telegram)
        words = [str(out.get("status", "OK"))]
        status = telegram.status or 0
        words.extend(tpl_status_flags(status & _TPL_STANDARD))
        words.extend(self.tpl_bits.flags(status & _TPL_MANUFACTURER))
        out["status"] = join_status(words)
        return out


# The enclosure bit of the HYDROCAL meters (src/driver_hydrocalm4.cc, the same in M3).
_HYDROCAL_TPL = BitLookup(
    "TPL_STATUS", {0x80: "SABOTAGE_ENCLOSURE"}, mask=_TPL_MANUFACTURER, default=""
)
_IWMTX5_TPL = BitLookup("TPL_STATUS", {0x40: "TAMPER"}, mask=_TPL_MANUFACTURER, default="")
_ERROR_FLAGS = BitLookup("ERROR_FLAGS", {}, mask=0xFFFF, default="OK")
# HYDROCAL-M4 error flags record: bit 0x80 is the enclosure too (drivers/src/hydrocalm4.xmq).
_M4_ERROR_FLAGS = BitLookup("ERROR_FLAGS", {0x80: "SABOTAGE"}, mask=0xFFFF, default="OK")


def _status(lookup: BitLookup) -> FieldSpec:
    """``status`` from the error flags record, when the meter sends one."""
    return field(
        "status", Quantity.TEXT, Match(VifRange.ERROR_FLAGS), lookup=lookup, attrs=Attr.STATUS
    )


def _number(record: Record) -> FieldValue:
    """The record's value, six decimals as the other drivers print (None if not a number)."""
    value = record.value
    if isinstance(value, float):
        return round(value, 6)
    return value if isinstance(value, int) else None


# ------------------------------------------------------------------------- hydrocalm3

# Registers with the same header, in the order the meter sends them.
_M3_ORDER: dict[VifRange, tuple[tuple[str, str], ...]] = {
    VifRange.ENERGY: (("total_heating", "kwh"), ("total_cooling", "kwh")),
    VifRange.VOLUME: (
        ("total_heating", "m3"),
        ("total_cooling", "m3"),
        ("c1_volume", "m3"),
        ("c2_volume", "m3"),
    ),
}


def _plain(record: Record) -> bool:
    """A current register: instantaneous, storage, tariff and subunit 0, no combinable."""
    return (
        record.function is Function.INSTANTANEOUS
        and record.storage == 0
        and record.tariff == 0
        and record.subunit == 0
        and not record.combinables
        and not record.manufacturer_vifes
    )


class HydrocalM3(_BmtDriver):
    """HYDROCAL-M3 heat/cooling meters: registers named by their position (module doc)."""

    def __init__(self) -> None:
        specs = (
            _status(_ERROR_FLAGS),
            field(
                "device_datetime",
                Quantity.DATE,
                Match(VifRange.DATE_TIME),
                info="The meter's date and time of the reading.",
            ),
            field(
                "supply_temperature",
                Quantity.TEMPERATURE,
                Match(VifRange.FLOW_TEMPERATURE),
                info="Supply (t1) pipe temperature.",
            ),
            field(
                "return_temperature",
                Quantity.TEMPERATURE,
                Match(VifRange.RETURN_TEMPERATURE),
                info="Return (t2) pipe temperature.",
            ),
        )
        super().__init__("hydrocalm3", (("BMT", 0x0B, 0x0D),), specs, _HYDROCAL_TPL)

    def fields(self, telegram: Telegram) -> Fields:
        """The declared fields plus the positional energy and volume registers."""
        out = super().fields(telegram)
        seen: dict[VifRange, int] = {}
        for record in telegram.records:
            names = _M3_ORDER.get(record.vif_range)
            if names is None or not _plain(record):
                continue
            index = seen.get(record.vif_range, 0)
            seen[record.vif_range] = index + 1
            if index < len(names):
                stem, suffix = names[index]
                out[f"{stem}_{suffix}"] = _number(record)
        return out


# ------------------------------------------------------------------------- hydrocalm4


def _hydrocalm4() -> _BmtDriver:
    specs = (
        _status(_M4_ERROR_FLAGS),
        field(
            "total_heating",
            Quantity.ENERGY,
            Match(VifRange.ENERGY),
            info="Heating energy since the meter was made.",
        ),
        field(
            "device_datetime",
            Quantity.DATE,
            Match(VifRange.DATE_TIME),
            info="The meter's date and time of the reading.",
        ),
        # Heat/cooling meters keep the cooling registers under tariff 1.
        field(
            "total_cooling",
            Quantity.ENERGY,
            Match(VifRange.ENERGY, tariff=1),
            info="Cooling energy since the meter was made.",
        ),
        field(
            "total_heating",
            Quantity.VOLUME,
            Match(VifRange.VOLUME),
            info="Heating medium volume since the meter was made.",
        ),
        field(
            "total_cooling",
            Quantity.VOLUME,
            Match(VifRange.VOLUME, tariff=1),
            info="Cooling medium volume since the meter was made.",
        ),
        # The pulse inputs C1 and C2 are subunits 1 and 2.
        field(
            "c1_volume",
            Quantity.VOLUME,
            Match(VifRange.VOLUME, subunit=1),
            info="Volume counted on pulse input C1.",
        ),
        field(
            "c2_volume",
            Quantity.VOLUME,
            Match(VifRange.VOLUME, subunit=2),
            info="Volume counted on pulse input C2.",
        ),
        field(
            "supply_temperature",
            Quantity.TEMPERATURE,
            Match(VifRange.FLOW_TEMPERATURE),
            info="Supply (t1) pipe temperature.",
        ),
        field(
            "return_temperature",
            Quantity.TEMPERATURE,
            Match(VifRange.RETURN_TEMPERATURE),
            info="Return (t2) pipe temperature.",
        ),
        field("volume_flow", Quantity.FLOW, Match(VifRange.VOLUME_FLOW), info="Medium flow now."),
        field("power", Quantity.POWER, Match(VifRange.POWER), info="Heat power now."),
    )
    return _BmtDriver("hydrocalm4", (("BMT", 0x1A, 0x0D),), specs, _HYDROCAL_TPL)


# ----------------------------------------------------------------------------- iwmtx5


def _iwmtx5() -> _BmtDriver:
    specs = (
        _status(_ERROR_FLAGS),
        field(
            "meter_datetime",
            Quantity.DATE,
            Match(VifRange.DATE_TIME),
            info="The meter's date and time.",
        ),
        field(
            "total",
            Quantity.VOLUME,
            Match(VifRange.VOLUME),
            info="Water used since the meter was made.",
        ),
    )
    return _BmtDriver("iwmtx5", (("BMT", 0x18, 0x06), ("BMT", 0x18, 0x07)), specs, _IWMTX5_TPL)


DRIVERS = (HydrocalM3(), _hydrocalm4(), _iwmtx5())
