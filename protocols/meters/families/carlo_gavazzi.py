"""Carlo Gavazzi EM24 electricity meters (driver ``em24``).

Facts (triples, field names, records, error-flag bits) as documented by wmbusmeters' driver
definition drivers/src/em24.xmq, checked against our test vectors.

The reactive energies come in records with the VIF extension ``FB 82`` and a correction
VIFE (``04 FB 82 75``, backward: ``04 FB 82 F5 3C``); these meters put the kvarh count in
the integer itself, so it is printed unscaled. The apparent energies are not sent: they are
computed from active and reactive energy (S = sqrt(P^2 + Q^2)). Frequency (``02 FB 2E``) is
sent in 0.1 Hz.
"""

from __future__ import annotations

import math

from protocols.meters.base import Fields, FieldValue, MeterDriver
from protocols.meters.fieldspec import BACKWARD_FLOW, Attr, FieldSpec, Match, Quantity, field
from protocols.meters.lookup import BitLookup
from protocols.meters.mfct import record_by_key
from protocols.meters.specdriver import SpecDriver
from protocols.records.model import VifRange
from protocols.telegram import Telegram

MVT = (("KAM", 0x33, 0x02), ("GAV", 0x00, 0x02))

_FREQUENCY_KEY = "02FB2E"
_DECIMALS = 6

_ERROR_BITS = {
    0x01: "V_1_OVERFLOW",
    0x02: "V_2_OVERFLOW",
    0x04: "V_3_OVERFLOW",
    0x08: "I_1_OVERFLOW",
    0x10: "I_2_OVERFLOW",
    0x20: "I_3_OVERFLOW",
    0x40: "FREQUENCY",
}
_STATUS = BitLookup("ERROR_FLAGS", _ERROR_BITS, mask=0xFF, default="OK")


def _phase(name: str, quantity: Quantity, key: str, phase: int) -> FieldSpec:
    return field(f"{name}_at_phase_{phase}", quantity, key, info=f"Phase L{phase}.")


SPECS: tuple[FieldSpec, ...] = (
    field(
        "status",
        Quantity.TEXT,
        Match(VifRange.ERROR_FLAGS),
        lookup=_STATUS,
        attrs=Attr.STATUS,
        info="Voltage, current and frequency out-of-range flags.",
    ),
    field(
        "total_energy_consumption",
        Quantity.ENERGY,
        Match(VifRange.ENERGY),
        info="Active energy imported.",
    ),
    field(
        "total_energy_production",
        Quantity.ENERGY,
        Match(VifRange.ENERGY, combinables=frozenset({BACKWARD_FLOW})),
        info="Active energy exported.",
    ),
    field("power", Quantity.POWER, Match(VifRange.POWER), info="Active power now."),
    field(
        "total_reactive_energy_consumption",
        Quantity.REACTIVE_ENERGY,
        "04FB8275",
        raw=True,
        info="Reactive energy imported.",
    ),
    field(
        "total_reactive_energy_production",
        Quantity.REACTIVE_ENERGY,
        "04FB82F53C",
        raw=True,
        info="Reactive energy exported.",
    ),
    *(_phase("amperage", Quantity.CURRENT, f"04FDD9FC0{n}", n) for n in (1, 2, 3)),
    *(_phase("voltage", Quantity.VOLTAGE, f"04FDC8FC0{n}", n) for n in (1, 2, 3)),
)


def _apparent(active: FieldValue, reactive: FieldValue) -> float | None:
    """sqrt(P^2 + Q^2), or ``None`` when either part is missing."""
    if not isinstance(active, int | float) or not isinstance(reactive, int | float):
        return None
    return round(math.hypot(active, reactive), _DECIMALS)


class Em24(SpecDriver):
    """``em24``: energies, phase values, computed apparent energies and frequency."""

    def __init__(self) -> None:
        super().__init__("em24", MVT, SPECS)

    def fields(self, telegram: Telegram) -> Fields:
        """The record fields plus the computed ones."""
        out = super().fields(telegram)
        # ``error``: the older name of the same flags, empty rather than OK when none is set.
        if any(r.vif_range is VifRange.ERROR_FLAGS for r in telegram.records):
            out["error"] = "" if out["status"] == "OK" else out["status"]
        for direction in ("consumption", "production"):
            out[f"total_apparent_energy_{direction}_kvah"] = _apparent(
                out.get(f"total_energy_{direction}_kwh"),
                out.get(f"total_reactive_energy_{direction}_kvarh"),
            )
        frequency = record_by_key(telegram, _FREQUENCY_KEY)
        raw = None if frequency is None else frequency.raw
        out["frequency_hz"] = raw / 10 if isinstance(raw, int) else None
        return out


DRIVERS: tuple[MeterDriver, ...] = (Em24(),)
