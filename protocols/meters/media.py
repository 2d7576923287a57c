"""Device type (last byte of the A field) -> ``media`` as printed (EN 13757-3 table 3)."""

from __future__ import annotations

_MEDIA: dict[int, str] = {
    0x00: "other",
    0x01: "oil",
    0x02: "electricity",
    0x03: "gas",
    0x04: "heat",
    0x05: "steam",
    0x06: "warm water",
    0x07: "water",
    0x08: "heat cost allocation",
    0x09: "compressed air",
    0x0A: "cooling load volume at outlet",
    0x0B: "cooling load volume at inlet",
    0x0C: "heat volume at inlet",
    0x0D: "heat/cooling load",
    0x0E: "bus/system component",
    0x0F: "unknown",
    0x15: "hot water",
    0x16: "cold water",
    0x17: "hot/cold water",
    0x18: "pressure",
    0x19: "a/d converter",
    0x1A: "smoke detector",
    0x1B: "room sensor",
    0x1C: "gas detector",
    0x20: "breaker",
    0x21: "valve",
    0x25: "customer unit (display device)",
    0x28: "waste water",
    0x29: "garbage",
    0x36: "radio converter (system side)",
    0x37: "radio converter (meter side)",
}


def media_name(device_type: int) -> str:
    """The lower-case medium name for a device type; ``reserved`` for unassigned codes."""
    return _MEDIA.get(device_type, "reserved")
