"""CRC-16 variants used on the wire.

- CRC-16/EN-13757 (poly 0x3D65, init 0, not reflected, xorout 0xFFFF): the wireless and
  wired M-Bus link layer, the ELL payload CRC and the compact-frame signatures
  (EN 13757-4 clause 5.x; check value 0xC2B7).
- CRC-16/X-25 (poly 0x1021 reflected, init 0xFFFF, xorout 0xFFFF): the IMST iM871A host
  protocol (check value 0x906E).
"""

from __future__ import annotations

from fastcrc import crc16 as _crc16

# Both are table-driven CRCs in compiled code (fastcrc, Rust): the link layer, the ELL and
# the compact-frame signature compute four per telegram, which in pure Python cost more
# than the AES (bench/README.md, decode). tests/protocols/test_decode_path.py checks them
# bit by bit against the polynomial definitions above.
_en13757 = _crc16.en_13757
_x25 = _crc16.ibm_sdlc  # CRC-16/IBM-SDLC is X-25 under its catalogue name


def crc16_en13757(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/EN-13757 of ``data``."""
    return _en13757(data)


def crc16_x25(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/X-25 of ``data`` (as used by the IMST HCI)."""
    return _x25(data)
