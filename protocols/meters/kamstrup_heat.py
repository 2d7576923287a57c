"""Kamstrup heat and cooling meters: Multical 302/303/403/602/603/803 (driver ``kamheat``).

Status comes from up to three records: the 32-bit info codes (``04FF22``), their 16-bit
form (``02FF22``) and, on some models, the standard error-flags record (VIF ``FD 17``)
whose bits Kamstrup numbers differently ("narrow" info codes). All are merged into
``status`` together with the TPL status byte.
"""

from __future__ import annotations

from protocols.meters.fieldspec import (
    BACKWARD_FLOW,
    Attr,
    FieldSpec,
    Match,
    Quantity,
    field,
    library,
)
from protocols.meters.lookup import BitLookup
from protocols.meters.specdriver import SpecDriver
from protocols.records.model import Function, VifRange

_INFO_CODES_16 = {
    0x0001: "VOLTAGE_INTERRUPTED",
    0x0002: "LOW_BATTERY_LEVEL",
    0x0004: "SENSOR_ERROR",
    0x0008: "SENSOR_T1_ABOVE_MEASURING_RANGE",
    0x0010: "SENSOR_T2_ABOVE_MEASURING_RANGE",
    0x0020: "SENSOR_T1_BELOW_MEASURING_RANGE",
    0x0040: "SENSOR_T2_BELOW_MEASURING_RANGE",
    0x0080: "TEMP_DIFF_WRONG_POLARITY",
    0x0100: "FLOW_SENSOR_WEAK_OR_AIR",
    0x0200: "WRONG_FLOW_DIRECTION",
    0x0400: "RESERVED_BIT_10",
    0x0800: "FLOW_INCREASED",
}
_INFO_CODES_32 = {
    **_INFO_CODES_16,
    0x00001000: "IN_A1_LEAKAGE_IN_THE_SYSTEM",
    0x00002000: "IN_B1_LEAKAGE_IN_THE_SYSTEM",
    0x00004000: "IN_A1_A2_EXTERNAL_ALARM",
    0x00008000: "IN_B1_B2_EXTERNAL_ALARM",
    0x00010000: "V1_COMMUNICATION_ERROR",
    0x00020000: "V1_WRONG_PULSE_FIGURE",
    0x00040000: "IN_A2_LEAKAGE_IN_THE_SYSTEM",
    0x00080000: "IN_B2_LEAKAGE_IN_THE_SYSTEM",
    0x00100000: "T3_ABOVE_MEASURING_RANGE_OR_SWITCHED_OFF",
    0x00200000: "T3_BELOW_MEASURING_RANGE_OR_SWITCHED_OFF",
    0x00400000: "V2_COMMUNICATION_ERROR",
    0x00800000: "V2_WRONG_PULSE_FIGURE",
    0x01000000: "V2_AIR",
    0x02000000: "V2_WRONG_FLOW_DIRECTION",
    0x04000000: "RESERVED_BIT_26",
    0x08000000: "V2_INCREASED_FLOW",
    0x10000000: "V1_V2_BURST_WATER_LOSS",
    0x20000000: "V1_V2_BURST_WATER_PENETRATION",
    0x40000000: "V1_V2_LEAKAGE_WATER_LOSS",
    0x80000000: "V1_V2_LEAKAGE_WATER_PENETRATION",
}
# In the 16-bit record bit 2 is documented as reserved, not as a sensor error.
_INFO_CODES_16_RECORD = {
    **_INFO_CODES_16,
    0x0004: "RESERVED_BIT_2",
    0x1000: "RESERVED_BIT_12",
    0x2000: "RESERVED_BIT_13",
    0x4000: "RESERVED_BIT_14",
    0x8000: "RESERVED_BIT_15",
}
_NARROW_INFO_CODES = {
    0x0001: "VOLTAGE_INTERRUPTED",
    0x0004: "SENSOR_T2_OUTSIDE_MEASURING_RANGE",
    0x0008: "SENSOR_T1_OUTSIDE_MEASURING_RANGE",
    0x0010: "V1_COMMUNICATION_ERROR",
    0x0020: "SENSOR_T3_OUTSIDE_MEASURING_RANGE",
    0x0040: "LEAKAGE_COLD_WATER",
    0x0080: "V2_WRONG_PULSE_FIGURE",
    0x0100: "LEAKAGE_HOT_WATER",
    0x0200: "BURST_WATER_LOSS",
    0x0400: "V2_COMMUNICATION_ERROR",
    0x0800: "V1_WRONG_PULSE_FIGURE",
    0x1000: "V1_AIR",
    0x2000: "V2_AIR",
    0x4000: "V1_WRONG_FLOW_DIRECTION",
    0x8000: "V2_WRONG_FLOW_DIRECTION",
}

_ENERGY, _VOLUME, _POWER = VifRange.ENERGY, VifRange.VOLUME, VifRange.POWER
_FLOW, _MAX = VifRange.VOLUME_FLOW, Function.MAXIMUM
_BACKWARD = frozenset({BACKWARD_FLOW})
_STATUS_PART = Attr.INJECT_INTO_STATUS | Attr.HIDE
# Kamstrup's operating-time register carries manufacturer VIFE 0x21 after FF.
_MFCT_OPERATING_TIME = frozenset({0x21})

SPECS: tuple[FieldSpec, ...] = (
    field(
        "status",
        Quantity.TEXT,
        "04FF22",
        lookup=BitLookup("ERROR_FLAGS", _INFO_CODES_32, 0xFFFFFFFF, "OK"),
        attrs=Attr.STATUS | Attr.INCLUDE_TPL_STATUS,
        info="Status and error flags.",
    ),
    field(
        "status16",
        Quantity.TEXT,
        "02FF22",
        lookup=BitLookup("ERROR_FLAGS", _INFO_CODES_16_RECORD, 0xFFFF, "OK"),
        attrs=_STATUS_PART,
    ),
    field(
        "status_narrow",
        Quantity.TEXT,
        Match(VifRange.ERROR_FLAGS),
        lookup=BitLookup("NARROW_ERROR_FLAGS", _NARROW_INFO_CODES, 0xFFFF, "OK"),
        attrs=_STATUS_PART,
    ),
    field("total_energy_consumption", Quantity.ENERGY, Match(_ENERGY)),
    field("total_energy_backward", Quantity.ENERGY, Match(_ENERGY, combinables=_BACKWARD)),
    field("total_volume", Quantity.VOLUME, Match(_VOLUME)),
    field("total_volume_subunit{subunit}", Quantity.VOLUME, Match(_VOLUME, subunit=(1, 4))),
    field("volume_flow", Quantity.FLOW, Match(_FLOW)),
    field("power", Quantity.POWER, Match(_POWER)),
    field("max_power", Quantity.POWER, Match(_POWER, _MAX)),
    field("t1_temperature", Quantity.TEMPERATURE, Match(VifRange.FLOW_TEMPERATURE)),
    field("t2_temperature", Quantity.TEMPERATURE, Match(VifRange.RETURN_TEMPERATURE)),
    field("max_flow", Quantity.FLOW, Match(_FLOW, _MAX)),
    # Volume x temperature sums (m3 x degC) from which an installer checks the cooling;
    # the VIF gives no scale, so the register value is printed as is.
    field("forward_energy", Quantity.ENERGY, "04FF07", raw=True, unit="m3c"),
    field("return_energy", Quantity.ENERGY, "04FF08", raw=True, unit="m3c"),
    field("target_energy", Quantity.ENERGY, Match(_ENERGY, storage=1)),
    field(
        "target_energy_backward",
        Quantity.ENERGY,
        Match(_ENERGY, storage=1, combinables=_BACKWARD),
    ),
    field("target_volume", Quantity.VOLUME, Match(_VOLUME, storage=1)),
    field(
        "target_volume_subunit{subunit}",
        Quantity.VOLUME,
        Match(_VOLUME, storage=1, subunit=(1, 4)),
    ),
    field(
        "operating_time",
        Quantity.TIME,
        Match(VifRange.OPERATING_TIME, mfct_combinables=_MFCT_OPERATING_TIME),
    ),
    field("enhanced_id", Quantity.TEXT, "02F9FF15"),
    # Pulse inputs A and B: plain counters.
    field("va", Quantity.DIMENSIONLESS, "04EEFF07", raw=True),
    field("vb", Quantity.DIMENSIONLESS, "04EEFF08", raw=True),
    *library(
        "fabrication_no",
        "meter_date",
        "meter_datetime",
        "on_time_h",
        "on_time_at_error_h",
        "flow_return_temperature_difference_c",
        "target_date",
    ),
)

MVT = tuple(
    ("KAM", version, device_type)
    for version, device_type in (
        (0x30, 0x04),
        (0x30, 0x0D),
        (0x30, 0x0C),
        (0x40, 0x04),
        (0x40, 0x0C),
        (0x40, 0x0D),
        (0x19, 0x04),
        (0x34, 0x04),
        (0x34, 0x0A),
        (0x34, 0x0B),
        (0x34, 0x0C),
        (0x34, 0x0D),
        (0x1C, 0x04),
        (0x35, 0x04),
        (0x35, 0x0C),
        (0x39, 0x04),
    )
)

COMPACT_LAYOUTS = (
    "02F9FF15040604EEFF0704EEFF0804148440148480401402FD17026C426C44064414C44014C4804014043B"
    "0259025D",
    "030643060314426C022D01FF21",
    "030E430E0313426C022D01FF21",
    "040604FF0704FF080414043B0259025D04FF22026C44064414426C",
    "040F04FF0704FF08041484401484804014043B0259025D142D84100F84200F04FF22026C440F4414C44014C4"
    "804014426C",
    "0406041404FF0704FF080259025D023B02FF22026C44064414426C",
)

ALIASES = tuple(f"multical{model}" for model in (302, 303, 403, 602, 603, 803))


class KamstrupHeat(SpecDriver):
    """``kamheat``: Kamstrup Multical 302/303/403/602/603/803 heat and cooling meters."""

    def __init__(self) -> None:
        super().__init__("kamheat", MVT, SPECS, COMPACT_LAYOUTS, ALIASES)
