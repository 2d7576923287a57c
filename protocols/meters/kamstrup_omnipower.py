"""Kamstrup OMNIPOWER electricity meter (driver ``omnipower``).

Energy and power imported from the grid are plain records; exported ("production") ones
carry the backward-flow combinable VIFE 0x3C.
"""

from __future__ import annotations

from protocols.meters.fieldspec import BACKWARD_FLOW, FieldSpec, Match, Quantity, field
from protocols.meters.specdriver import SpecDriver
from protocols.records.model import VifRange

_BACKWARD = frozenset({BACKWARD_FLOW})

SPECS: tuple[FieldSpec, ...] = (
    field("total_energy_consumption", Quantity.ENERGY, Match(VifRange.ENERGY)),
    field(
        "total_energy_production",
        Quantity.ENERGY,
        Match(VifRange.ENERGY, combinables=_BACKWARD),
    ),
    field("current_power_consumption", Quantity.POWER, Match(VifRange.POWER)),
    field(
        "current_power_production",
        Quantity.POWER,
        Match(VifRange.POWER, combinables=_BACKWARD),
    ),
)


class KamstrupOmnipower(SpecDriver):
    """``omnipower``: Kamstrup OMNIPOWER electricity meter."""

    def __init__(self) -> None:
        super().__init__("omnipower", (("KAM", 0x30, 0x02),), SPECS, ("040404843C042B04AB3C",))
