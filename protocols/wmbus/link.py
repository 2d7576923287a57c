"""Frame formats A and B: link-layer CRC blocks (EN 13757-4 clause 5.3 and 5.4).

Radio modules deliver frames either with their CRC blocks or already stripped; both come
through here and leave as one canonical form: ``L C M A CI ...`` without CRCs, with L
equal to the number of bytes after it.
"""

from __future__ import annotations

from enum import StrEnum

from protocols.crc import crc16_en13757
from protocols.errors import CrcError, FormatError, TruncatedError
from protocols.telegram import MeterAddress
from protocols.wmbus.address import id_from_bytes, manufacturer_code
from protocols.wmbus.layers import LINK_HEADER

FIRST_BLOCK = 10  # L C M(2) A(6)
BLOCK = 16
FORMAT_B_BLOCK2_END = 126  # data bytes (from L) covered by the first format-B CRC


class FrameFormat(StrEnum):
    """How the link-layer CRCs were (or are to be) laid out."""

    NONE = "none"  # CRCs already removed by the radio module
    A = "A"
    B = "B"


def format_a_length(length_field: int) -> int:
    """Wire length of a format-A frame whose L field is ``length_field``."""
    rest = max(length_field - (FIRST_BLOCK - 1), 0)
    return 1 + length_field + 2 + 2 * ((rest + BLOCK - 1) // BLOCK)


def _check(block: bytes, crc_bytes: bytes, where: int) -> None:
    # Link-layer CRCs are sent most significant byte first (EN 13757-4 clause 5.3).
    if crc16_en13757(block) != int.from_bytes(crc_bytes, "big"):
        raise CrcError("link-layer CRC mismatch", offset=where)


def _strip_a(raw: bytes) -> bytes:
    out = bytearray(raw[:FIRST_BLOCK])
    _check(raw[:FIRST_BLOCK], raw[FIRST_BLOCK : FIRST_BLOCK + 2], FIRST_BLOCK)
    pos = FIRST_BLOCK + 2
    while pos < len(raw):
        block = raw[pos : min(pos + BLOCK, len(raw) - 2)]
        crc_at = pos + len(block)
        _check(block, raw[crc_at : crc_at + 2], crc_at)
        out += block
        pos = crc_at + 2
    return bytes(out)


def _format_b_crcs_valid(raw: bytes) -> bool:
    if len(raw) < FIRST_BLOCK + 2:
        return False
    if len(raw) <= FORMAT_B_BLOCK2_END + 2:
        return crc16_en13757(raw[:-2]) == int.from_bytes(raw[-2:], "big")
    end2 = FORMAT_B_BLOCK2_END
    if crc16_en13757(raw[:end2]) != int.from_bytes(raw[end2 : end2 + 2], "big"):
        return False
    block3 = raw[end2 + 2 : -2]
    return crc16_en13757(block3) == int.from_bytes(raw[-2:], "big")


def _strip_b(raw: bytes) -> bytes:
    if len(raw) <= FORMAT_B_BLOCK2_END + 2:
        body = raw[:-2]
    else:
        body = raw[:FORMAT_B_BLOCK2_END] + raw[FORMAT_B_BLOCK2_END + 2 : -2]
    return bytes([len(body) - 1]) + body[1:]


def strip_crcs(raw: bytes) -> tuple[bytes, FrameFormat]:
    """The frame without link-layer CRCs, and the format it arrived in.

    A frame of L + 1 bytes is either CRC-free or format B (whose L counts its CRCs); the
    format-B CRCs decide. A frame of the format-A wire length must carry valid CRCs.
    """
    if not raw:
        raise TruncatedError("empty frame", offset=0)
    length_field = raw[0]
    if length_field < FIRST_BLOCK:
        raise FormatError(f"L field {length_field} is shorter than the link header", offset=0)
    if len(raw) == length_field + 1:
        if _format_b_crcs_valid(raw):
            return _strip_b(raw), FrameFormat.B
        return raw, FrameFormat.NONE
    if len(raw) == format_a_length(length_field):
        return _strip_a(raw), FrameFormat.A
    if len(raw) < length_field + 1:
        raise TruncatedError(
            f"frame has {len(raw)} bytes, L field announces {length_field + 1}", offset=len(raw)
        )
    raise FormatError(
        f"frame has {len(raw)} bytes: neither L + 1 = {length_field + 1} nor the format-A "
        f"length {format_a_length(length_field)}",
        offset=0,
    )


def strip_declared(raw: bytes, frame_format: FrameFormat, crc_present: bool | None) -> bytes:
    """The frame without link-layer CRCs, taking the radio module's word for its layout.

    ``crc_present`` False: the module removed the CRCs (the iM871A delivers frames so):
    every byte is data, even when the last two happen to equal a format-B CRC of the rest
    (auto-detection takes 1 such frame in 65,536 for format B). True: the CRCs of
    ``frame_format`` (A or B) are checked and removed; with ``FrameFormat.NONE`` the module
    did not say which, and the length decides (clause 5.3 / 5.4). None: the module cannot
    say whether they are there at all, and :func:`strip_crcs` detects it.
    """
    if crc_present is None:
        return strip_crcs(raw)[0]
    length_field = _length_field(raw)
    if not crc_present:
        _expect_length(raw, length_field + 1, "L + 1")
        return raw
    if frame_format is FrameFormat.NONE:
        frame_format = FrameFormat.B if len(raw) == length_field + 1 else FrameFormat.A
    if frame_format is FrameFormat.A:
        _expect_length(raw, format_a_length(length_field), "the format-A length")
        return _strip_a(raw)
    _expect_length(raw, length_field + 1, "L + 1")
    if len(raw) < FIRST_BLOCK + 2 or not _format_b_crcs_valid(raw):
        raise CrcError("format-B CRC mismatch", offset=len(raw) - 2)
    return _strip_b(raw)


def _length_field(raw: bytes) -> int:
    if not raw:
        raise TruncatedError("empty frame", offset=0)
    length_field = raw[0]
    if length_field < FIRST_BLOCK:
        raise FormatError(f"L field {length_field} is shorter than the link header", offset=0)
    return length_field


def _expect_length(raw: bytes, expected: int, name: str) -> None:
    if len(raw) < expected:
        raise TruncatedError(
            f"frame has {len(raw)} bytes, expected {name} = {expected}", offset=len(raw)
        )
    if len(raw) > expected:
        raise FormatError(f"frame has {len(raw)} bytes, expected {name} = {expected}", offset=0)


# Diehl's radio protocol PRIOS (Diehl, Hydrometer, Sappel, and the EWT brand) on its
# manufacturer CIs: the A field is laid out differently (facts as wmbusmeters' izar
# driver handles them; not in EN 13757-4).
PRIOS_MANUFACTURERS = frozenset({"DME", "EWT", "HYD", "SPL"})
PRIOS_CI = range(0xA0, 0xA8)


def peek_address(frame: bytes) -> MeterAddress:
    """The sender of a frame without CRCs: M field and A field (EN 13757-4 clause 5.5).

    The one parse of the link-layer address: the pipeline's meter identity (its state,
    tenant and visibility count) and the decoder take it from here. Raises
    :class:`TruncatedError` when the frame ends before its CI field.
    """
    if len(frame) < LINK_HEADER.size:
        raise TruncatedError("frame ends before its CI field", offset=len(frame))
    _, c_field, m_field, id_bytes, version, device_type, ci = LINK_HEADER.unpack_from(frame)
    manufacturer = manufacturer_code(m_field)
    if manufacturer in PRIOS_MANUFACTURERS and c_field in (0x44, 0x46) and ci in PRIOS_CI:
        # Diehl's PRIOS frames send the A field as version, type, then the id.
        version, device_type, id_bytes = frame[4], frame[5], frame[6:10]
    elif manufacturer == "SAP" and ci in PRIOS_CI:
        version, device_type = 0x00, 0x07  # Sappel PRIOS water meters name neither
    return MeterAddress(manufacturer, id_from_bytes(id_bytes), version, device_type)


def add_crcs(frame: bytes, fmt: FrameFormat) -> bytes:
    """Lay out a CRC-free frame (L = len - 1) in format A or B with its CRC blocks."""
    if fmt is FrameFormat.NONE:
        return frame
    if len(frame) < FIRST_BLOCK or frame[0] != len(frame) - 1:
        raise FormatError("frame to lay out must be L C M A ... with L = len - 1")
    if fmt is FrameFormat.A:
        out = bytearray(frame[:FIRST_BLOCK])
        out += crc16_en13757(frame[:FIRST_BLOCK]).to_bytes(2, "big")
        for pos in range(FIRST_BLOCK, len(frame), BLOCK):
            block = frame[pos : pos + BLOCK]
            out += block + crc16_en13757(block).to_bytes(2, "big")
        return bytes(out)
    body = frame[1:]
    two_crcs = len(frame) > FORMAT_B_BLOCK2_END
    new_l = len(body) + (4 if two_crcs else 2)
    if new_l > 255:
        raise FormatError("frame too long for format B")
    data = bytes([new_l]) + body
    if not two_crcs:
        return data + crc16_en13757(data).to_bytes(2, "big")
    block2 = data[:FORMAT_B_BLOCK2_END]
    block3 = data[FORMAT_B_BLOCK2_END:]
    return (
        block2
        + crc16_en13757(block2).to_bytes(2, "big")
        + block3
        + crc16_en13757(block3).to_bytes(2, "big")
    )
