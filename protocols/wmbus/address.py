"""Manufacturer codes and identification numbers (EN 13757-4 clause 5.5, EN 13757-3 clause 6.4).

The M field is two bytes little-endian holding three letters of five bits each (letter - 64,
most significant first); the identification number is eight BCD digits sent least
significant byte first (``99 87 34 76`` is 76348799).
"""

from __future__ import annotations

from functools import lru_cache

from protocols.errors import FormatError


@lru_cache(maxsize=1024)  # a gateway hears a few dozen manufacturers; bounded for noise
def manufacturer_code(m_field: int) -> str:
    """The three-letter flag of an M field value (``0x2C2D`` -> ``"KAM"``).

    Codes outside A-Z (seen from broken or unregistered meters) are kept as ``?`` rather
    than refused: the telegram may still decode.
    """
    letters = ((m_field >> 10) & 0x1F, (m_field >> 5) & 0x1F, m_field & 0x1F)
    return "".join(chr(64 + c) if 1 <= c <= 26 else "?" for c in letters)


def manufacturer_field(code: str) -> int:
    """The M field value of a three-letter flag (``"KAM"`` -> ``0x2C2D``)."""
    if len(code) != 3 or not all("A" <= c <= "Z" for c in code):
        raise FormatError(f"manufacturer must be three letters A-Z, not {code!r}")
    a, b, c = (ord(x) - 64 for x in code)
    return (a << 10) | (b << 5) | c


def id_from_bytes(raw: bytes) -> str:
    """The printed identification number of the 4 wire bytes (least significant first).

    Non-decimal nibbles are printed as hex digits: wildcard and test ids use them.
    """
    return raw[::-1].hex().upper()


def id_to_bytes(meter_id: str) -> bytes:
    """The 4 wire bytes of an 8-digit identification number."""
    if len(meter_id) != 8:
        raise FormatError(f"meter id must be 8 digits, not {meter_id!r}")
    try:
        return bytes.fromhex(meter_id)[::-1]
    except ValueError:
        raise FormatError(f"meter id must be 8 digits, not {meter_id!r}") from None
