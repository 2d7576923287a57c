"""Compact frames (CI 0x79): finding the DIF/VIF layout of a format signature.

A compact frame replaces its records' DIF/VIF bytes with a 2-byte signature (the
CRC-16/EN-13757 of those bytes, OMS Vol. 2 annex). The layout comes from the formats the
drivers declare, or from a full frame of the same meter type seen earlier: those are kept in
a bounded least-recently-used table.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from protocols.crc import crc16_en13757

# (manufacturer, version, device type, signature)
LayoutKey = tuple[str, int, int, int]


def format_signature(layout: bytes) -> int:
    """The signature a compact frame carries for ``layout``."""
    return crc16_en13757(layout)


class CompactLayouts:
    """Declared and learnt compact-frame layouts.

    Learnt layouts are keyed by meter type (manufacturer, version, device type) and
    signature: meters of one model share their formats, so 30,000 meters need few entries.
    """

    def __init__(self, declared: Mapping[int, bytes], max_learnt: int = 4096) -> None:
        self._declared = dict(declared)
        self._learnt: OrderedDict[LayoutKey, bytes] = OrderedDict()
        self._max_learnt = max_learnt

    def learn(self, key: LayoutKey, layout: bytes) -> None:
        """Remember the layout of a full frame (most recently used last)."""
        learnt = self._learnt
        if key in learnt:
            learnt.move_to_end(key)
            return
        learnt[key] = layout
        if len(learnt) > self._max_learnt:
            learnt.popitem(last=False)

    def find(self, key: LayoutKey) -> bytes | None:
        """The layout for a compact frame's signature, learnt first, then declared."""
        layout = self._learnt.get(key)
        if layout is not None:
            self._learnt.move_to_end(key)
            return layout
        return self._declared.get(key[3])

    def __len__(self) -> int:
        return len(self._learnt)
