"""CRC-16 variants used on the wire.

- CRC-16/EN-13757 (poly 0x3D65, init 0, not reflected, xorout 0xFFFF): the wireless and
  wired M-Bus link layer, the ELL payload CRC and the compact-frame signatures
  (EN 13757-4 clause 5.x; check value 0xC2B7).
- CRC-16/X-25 (poly 0x1021 reflected, init 0xFFFF, xorout 0xFFFF): the IMST iM871A host
  protocol (check value 0x906E).
"""

from __future__ import annotations


def _table_msb(poly: int) -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ poly) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


def _table_lsb(poly_reflected: int) -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly_reflected if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_EN13757 = _table_msb(0x3D65)
_X25 = _table_lsb(0x8408)


def crc16_en13757(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/EN-13757 of ``data``."""
    crc = 0
    table = _EN13757
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ b]
    return crc ^ 0xFFFF


def crc16_x25(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/X-25 of ``data`` (as used by the IMST HCI)."""
    crc = 0xFFFF
    table = _X25
    for b in data:
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFF
