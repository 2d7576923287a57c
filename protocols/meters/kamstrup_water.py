"""Kamstrup water meters: Multical 21, flowIQ 2101/2200/3100 and KWM (driver ``kamwater``).

They send two status records: the 32-bit info codes (``04FF23``) of the newer meters and
the 16-bit info codes (``02FF20``) whose low four bits are the current alarms and whose
upper bits hold, for each alarm, a 3-bit code of how long it has lasted.
"""

from __future__ import annotations

from protocols.meters.fieldspec import Attr, FieldSpec, Match, Quantity, field, library
from protocols.meters.lookup import BitLookup, durations
from protocols.meters.specdriver import SpecDriver
from protocols.records.model import Function, VifRange

_MIN, _MAX = Function.MINIMUM, Function.MAXIMUM
_FLOW, _FLOW_T = VifRange.VOLUME_FLOW, VifRange.FLOW_TEMPERATURE
_EXT_T = VifRange.EXTERNAL_TEMPERATURE

_ALARMS = {0x01: "DRY", 0x02: "REVERSE", 0x04: "LEAK", 0x08: "BURST"}
# Spelling as users' dashboards already read it (including "ABIENT").
_INFO_CODES = {
    **_ALARMS,
    0x10: "TAMPER",
    0x20: "LOW_BATTERY",
    0x40: "LOW_ABIENT_TEMPERATURE",
    0x80: "FLOW_ABOVE_Q4",
    0x200: "NO_CONSUMPTION",
}

SPECS: tuple[FieldSpec, ...] = (
    field(
        "status",
        Quantity.TEXT,
        "04FF23",
        lookup=BitLookup("ERROR_FLAGS", _INFO_CODES, 0xFFFFFFFF, "OK"),
        attrs=Attr.STATUS | Attr.INCLUDE_TPL_STATUS,
        info="Status and error flags.",
    ),
    field(
        "status16",
        Quantity.TEXT,
        "02FF20",
        lookup=BitLookup("ERROR_FLAGS", _ALARMS, 0x000F, "OK"),
        attrs=Attr.INJECT_INTO_STATUS | Attr.HIDE,
    ),
    field(
        "current_status",
        Quantity.TEXT,
        "02FF20",
        lookup=BitLookup("ERROR_FLAGS", _ALARMS, 0x000F),
        info="Deprecated: the current alarms, also in status.",
    ),
    field("flow", Quantity.FLOW, Match(_FLOW), info="Current flow."),
    field("flow_temperature", Quantity.TEMPERATURE, Match(_FLOW_T, _MIN, storage=(1, 2))),
    field("min_external_temperature_last_month", Quantity.TEMPERATURE, Match(_EXT_T, _MIN, 1)),
    field("min_external_temperature_last_day", Quantity.TEMPERATURE, Match(_EXT_T, _MIN, 2)),
    field("max_flow", Quantity.FLOW, Match(_FLOW, _MAX, 2), info="Maximum flow, last period."),
    field("min_flow_temperature", Quantity.TEMPERATURE, Match(_FLOW_T, _MIN, 2)),
    field("max_flow_temperature", Quantity.TEMPERATURE, Match(_FLOW_T, _MAX, 2)),
    field("max_external_temperature", Quantity.TEMPERATURE, Match(_EXT_T, _MAX, 1)),
    field("min_flow", Quantity.FLOW, Match(_FLOW, _MIN, 2)),
    field("time_dry", Quantity.TEXT, "02FF20", lookup=durations("DRY", 0x0070)),
    field("time_reversed", Quantity.TEXT, "02FF20", lookup=durations("REVERSED", 0x0380)),
    field("time_leaking", Quantity.TEXT, "02FF20", lookup=durations("LEAKING", 0x1C00)),
    field("time_bursting", Quantity.TEXT, "02FF20", lookup=durations("BURSTING", 0xE000)),
    *library("total_m3", "target_m3", "target_date"),
)

MVT = (
    ("KAM", 0x1B, 0x06),
    ("KAM", 0x1B, 0x16),
    ("KAW", 0x3A, 0x16),
    ("KAW", 0x3C, 0x16),
    ("KAM", 0x1D, 0x16),
    ("KAW", 0x42, 0x06),
    ("KAW", 0x42, 0x16),
)

COMPACT_LAYOUTS = (
    "02FF2004134413615B6167",
    "02FF20041392013BA1015B8101E7FF0F",
    "04FF234413523B06FF1B426C61675167023B04138101E7FF0F",
    "02FF2004134413426C523B615B616751678101E7FF0F06FF1B",
    "02FF2004134413A1015B8101E7FF0F",
    "02FF2004134413615B5167",
    "02FF2004134413",
    "02FF200413523B",
    "04FF2304134413426C023B92013BA2013B06FF1BA1015B91015BA10167",
)


class KamstrupWater(SpecDriver):
    """``kamwater``: Kamstrup Multical 21, flowIQ 2101/2200/3100 and KWM water meters."""

    def __init__(self) -> None:
        super().__init__("kamwater", MVT, SPECS, COMPACT_LAYOUTS, ("multical21", "flowiq2200"))
