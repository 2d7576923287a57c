"""What a radio driver delivers: one telegram as heard, with how it was heard."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from protocols.wmbus.link import FrameFormat


class LinkMode(StrEnum):
    """Wireless M-Bus link modes (EN 13757-4) a module listens in or a frame came in."""

    S1 = "s1"
    T1 = "t1"
    C1 = "c1"
    C1T1 = "c1t1"  # listening in both: a received frame is either c1 or t1


@dataclass(frozen=True, slots=True)
class RadioFrame:
    """One telegram from the radio.

    ``raw`` starts at the L field, in whatever CRC form the module delivered it
    (``crc_present`` and ``frame_format`` say which); ``timestamp`` is the reception time
    in seconds since the epoch as given by the driver's injected clock.

    The pipeline takes the driver's word for the CRCs
    (:func:`protocols.wmbus.link.strip_declared`): ``crc_present`` False means every byte
    is data (the iM871A, iU891A, Amber, RC1180, rtl_wmbus and rawtty drivers say so today), True
    that the CRCs of ``frame_format`` are still in (the CUL), and None that the module
    cannot say, so that the layout is detected from the bytes.
    """

    raw: bytes
    rssi_dbm: float | None
    timestamp: float
    link_mode: LinkMode
    frame_format: FrameFormat = FrameFormat.NONE
    crc_present: bool | None = False
