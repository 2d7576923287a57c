"""What a meter driver is.

A driver turns a :class:`~protocols.telegram.Telegram` (its data records already parsed) into
the decoded fields of docs/cli.md, "Decoded JSON": quantity-suffixed snake-case names in
canonical units (``total_m3``, ``flow_temperature_c``, ...) and ``status``. The fields every
telegram has (``id``, ``manufacturer``, ``media``, ``meter``) are added by the registry, not
by drivers.
"""

from __future__ import annotations

from typing import Protocol

from protocols.telegram import Telegram

FieldValue = float | int | str | None
Fields = dict[str, FieldValue]

# (manufacturer, version, device type), e.g. ("KAM", 0x1B, 0x16)
Mvt = tuple[str, int, int]


class MeterDriver(Protocol):
    """A decoder for one family of meters."""

    @property
    def name(self) -> str:
        """The driver's name as printed in ``meter`` (e.g. ``kamwater``)."""
        ...

    @property
    def mvt(self) -> frozenset[Mvt]:
        """The (manufacturer, version, device type) triples this driver serves."""
        ...

    @property
    def compact_layouts(self) -> tuple[bytes, ...]:
        """DIF/VIF layouts of the compact frames (CI 0x79) these meters send."""
        ...

    def fields(self, telegram: Telegram) -> Fields:
        """The decoded fields of one telegram (without id, manufacturer, media, meter)."""
        ...
