"""Kamstrup pressure sensor (driver ``kampress``)."""

from __future__ import annotations

from protocols.meters.fieldspec import FieldSpec, Match, Quantity, field
from protocols.meters.lookup import BitLookup
from protocols.meters.specdriver import SpecDriver
from protocols.records.model import Function, VifRange

_ALARMS = {0x01: "DROP", 0x02: "SURGE", 0x04: "HIGH", 0x08: "LOW", 0x10: "TRANSIENT"}

SPECS: tuple[FieldSpec, ...] = (
    # A plain field, not Attr.STATUS: the sensor's error-flags record is its only status.
    field(
        "status",
        Quantity.TEXT,
        Match(VifRange.ERROR_FLAGS),
        lookup=BitLookup("ERROR_FLAGS", {**_ALARMS, 0x20: "COMM_ERROR"}, 0xFFFF, "OK"),
    ),
    field("pressure", Quantity.PRESSURE, Match(VifRange.PRESSURE)),
    field("max_pressure", Quantity.PRESSURE, Match(VifRange.PRESSURE, Function.MAXIMUM)),
    field("min_pressure", Quantity.PRESSURE, Match(VifRange.PRESSURE, Function.MINIMUM)),
    # Calibration-related manufacturer registers (32-bit reals), printed unscaled.
    field("alfa", Quantity.DIMENSIONLESS, "05FF09", raw=True),
    field("beta", Quantity.DIMENSIONLESS, "05FF0A", raw=True),
)


class KamstrupPressure(SpecDriver):
    """``kampress``: Kamstrup pressure sensor."""

    def __init__(self) -> None:
        super().__init__(
            "kampress", (("KAM", 0x01, 0x18),), SPECS, ("22691269026905FF0905FF0A02FD17",)
        )
