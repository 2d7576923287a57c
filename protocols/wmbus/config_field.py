"""The TPL configuration field (EN 13757-7:2018 clause 7.5.8, OMS Vol. 2 issue 4.x).

Two bytes, least significant first. Bits 12..8 are the security mode; what the other bits
mean depends on it. For modes 0, 5 and 7 (the ones OMS meters use):

======  ====================================================================
bits    meaning
======  ====================================================================
15      B: bidirectional communication supported
14      A: accessibility (the meter listens after sending)
13      S: synchronous transmission (sent on a fixed schedule)
12..8   M: security mode
7..4    N: number of encrypted 16-byte blocks (modes 5 and 7)
3..2    CC: content of the telegram (0 standard, 1 static, 2/3 reserved)
1       R: repeated access
0       H: hop counter
======  ====================================================================

Mode 7 adds the configuration field extension byte (key derivation, key id) after it;
that byte belongs to mode 7 only. Modes 16-31 (and 1, 4, 13, 15) are the manufacturers'
or otherwise specific: their other bits are not defined publicly, so only the mode is
read. The mode names are those of EN 13757-7 table 19 as public sources report them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Security(Enum):
    """What the decoder does with a mode."""

    NONE = "none"  # plaintext records
    SUPPORTED = "supported"  # decrypted here (2, 5, 7)
    SPECIFIC = "specific"  # the manufacturer's: plaintext if it parses, else the driver's
    REFUSED = "refused"  # defined, not implemented (DES, CTR/GCM/CCM): refused by name
    RESERVED = "reserved"  # not defined: refused


# EN 13757-7 table 19 (security modes), as public implementations list it.
_MODES: dict[int, tuple[str, Security]] = {
    0: ("no security", Security.NONE),
    1: ("manufacturer specific", Security.SPECIFIC),
    2: ("DES without IV, deprecated", Security.SUPPORTED),
    3: ("DES with IV, deprecated", Security.REFUSED),
    4: ("specific usage", Security.SPECIFIC),
    5: ("AES-128-CBC with IV", Security.SUPPORTED),
    6: ("reserved", Security.RESERVED),
    7: ("AES-128-CBC without IV, ephemeral key (OMS)", Security.SUPPORTED),
    8: ("AES-128-CTR with CMAC", Security.REFUSED),
    9: ("AES-128-GCM", Security.REFUSED),
    10: ("AES-128-CCM", Security.REFUSED),
    11: ("reserved", Security.RESERVED),
    12: ("reserved", Security.RESERVED),
    13: ("specific usage (TLS)", Security.SPECIFIC),
    14: ("reserved", Security.RESERVED),
    15: ("specific usage", Security.SPECIFIC),
}


def mode_name(mode: int) -> str:
    """The security mode's name (``"AES-128-CBC with IV"``; 16-31: manufacturer specific)."""
    if 16 <= mode <= 31:
        return "manufacturer specific"
    return _MODES.get(mode, ("reserved", Security.RESERVED))[0]


def mode_security(mode: int) -> Security:
    """How the decoder treats ``mode``."""
    if 16 <= mode <= 31:
        return Security.SPECIFIC
    return _MODES.get(mode, ("reserved", Security.RESERVED))[1]


@dataclass(frozen=True, slots=True)
class ConfigurationField:
    """One TPL configuration field, read as its security mode defines it."""

    raw: int
    mode: int
    # Defined for modes 0, 5, 7 only (None otherwise: the bits are not public).
    encrypted_blocks: int | None
    bidirectional: bool | None
    accessibility: bool | None
    synchronous: bool | None
    content: int | None
    repeated_access: bool | None
    hop_counter: bool | None

    @property
    def name(self) -> str:
        """The security mode's name."""
        return mode_name(self.mode)

    @property
    def security(self) -> Security:
        """How the decoder treats this mode."""
        return mode_security(self.mode)

    @property
    def has_extension(self) -> bool:
        """Whether the configuration field extension byte follows (mode 7)."""
        return self.mode == 7


def parse_configuration_field(raw: int) -> ConfigurationField:
    """The configuration field ``raw`` (as the integer of its two bytes, LSB first)."""
    mode = (raw >> 8) & 0x1F
    if mode not in (0, 5, 7):
        return ConfigurationField(raw, mode, None, None, None, None, None, None, None)
    # The bits of the table above (layers.ConfigurationField declares the same layout).
    return ConfigurationField(
        raw,
        mode,
        encrypted_blocks=(raw >> 4) & 0x0F if mode in (5, 7) else None,
        bidirectional=bool(raw & 0x8000),
        accessibility=bool(raw & 0x4000),
        synchronous=bool(raw & 0x2000),
        content=(raw >> 2) & 0x03,
        repeated_access=bool(raw & 0x0002),
        hop_counter=bool(raw & 0x0001),
    )
