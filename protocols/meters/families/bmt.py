"""BMT (Bergamo Meter Technology / Hydrometer) HYDROCAL-M3 heat/cooling meters: driver
``hydrocalm3``.

Facts (triple, field names, which record feeds which field, the manufacturer bits of the
TPL status byte) as wmbusmeters' driver definitions drivers/src/hydrocalm3.xmq and
src/driver_hydrocalm4.cc declare them (the enclosure bit is the same in both meters).

Why code and not a data driver: the meter sends its heating and cooling registers as
records with identical headers, in a fixed order (heating energy, ..., cooling energy;
heating volume, cooling volume, input C1, input C2): only the position tells them apart.
The manufacturer bit 0x80 of the TPL status byte (the enclosure was opened) is named in
``status``.

The HYDROCAL-M4 (``hydrocalm4``) and the iWM-TX5 (``iwmtx5``) are data drivers
(drivers/hydrocalm4.toml, drivers/iwmtx5.toml).
"""

from __future__ import annotations

from protocols.meters.base import Fields
from protocols.meters.fieldspec import Match, Quantity, field
from protocols.meters.lookup import BitLookup, join_status
from protocols.meters.mfct import (
    error_flags_status,
    is_current_register,
    record_number,
    tpl_flags_named,
)
from protocols.meters.specdriver import SpecDriver
from protocols.records.model import VifRange
from protocols.telegram import Telegram

# The enclosure bit of the HYDROCAL meters (src/driver_hydrocalm4.cc, the same in M3).
_HYDROCAL_TPL = BitLookup("TPL_STATUS", {0x80: "SABOTAGE_ENCLOSURE"})

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

_SPECS = (
    error_flags_status(),
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


class HydrocalM3(SpecDriver):
    """HYDROCAL-M3 heat/cooling meters: registers named by their position (module doc)."""

    def __init__(self) -> None:
        super().__init__("hydrocalm3", (("BMT", 0x0B, 0x0D),), _SPECS)

    def fields(self, telegram: Telegram) -> Fields:
        """The declared fields, the positional energy and volume registers, and ``status``
        with the TPL flags (manufacturer bits named)."""
        out = super().fields(telegram)
        tpl = tpl_flags_named(telegram.status, _HYDROCAL_TPL)
        out["status"] = join_status([str(out.get("status", "OK")), *tpl])
        seen: dict[VifRange, int] = {}
        for record in telegram.records:
            names = _M3_ORDER.get(record.vif_range)
            if names is None or not is_current_register(record):
                continue
            index = seen.get(record.vif_range, 0)
            seen[record.vif_range] = index + 1
            if index < len(names):
                stem, suffix = names[index]
                out[f"{stem}_{suffix}"] = record_number(record)
        return out


DRIVERS = (HydrocalM3(),)
