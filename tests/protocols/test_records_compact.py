"""Compact frames (CI 0x79): signatures from split_headers, parse_compact vs full frames."""

from __future__ import annotations

from typing import Any

import pytest

from protocols.crc import crc16_en13757
from protocols.errors import FormatError, TruncatedError
from protocols.meters.kamstrup_water import KamstrupWater
from protocols.records import parse_compact, parse_records, split_headers
from tests.protocols.vectors import KAMSTRUP_DRIVERS, load_json, load_jsonl


def _records_block(frame: bytes) -> tuple[int, bytes] | None:
    """(CI, bytes after the TPL header) of a plain wireless frame without link CRCs.

    Only what the Kamstrup vectors need: ELL 0x8D (already decrypted) / 0x8C, then
    CI 0x78 (no TPL header), 0x79 (compact) or 0x7A (short TPL header).
    """
    pos = 10
    ci = frame[pos]
    if ci == 0x8D:
        pos += 9
    elif ci == 0x8C:
        pos += 3
    ci = frame[pos]
    if ci in (0x78, 0x79):
        return ci, frame[pos + 1 :]
    if ci == 0x7A:
        return ci, frame[pos + 5 :]
    return None


def _kamstrup_frames() -> list[tuple[str, bytes, int, bytes]]:
    out = []
    for vec in load_jsonl("wmbus.jsonl"):
        if vec["driver"] not in KAMSTRUP_DRIVERS:
            continue
        for hexframe in vec["frames"]:
            frame = bytes.fromhex(hexframe)
            block = _records_block(frame)
            if block is not None:
                out.append((vec["source"], frame, block[0], block[1]))
    return out


def _known_layouts() -> dict[str, str]:
    formats: dict[str, Any] = load_json("compact_formats.json")["drivers"]
    return {
        f["difvif"].upper(): f["signature"].upper()
        for drv in formats.values()
        for f in drv["compact_frame_formats"]
    }


def test_signatures_of_known_layouts_match_full_frames() -> None:
    known = _known_layouts()
    matched = 0
    for source, _frame, ci, block in _kamstrup_frames():
        if ci == 0x79:
            continue
        headers, _data = split_headers(block)
        layout = headers.hex().upper()
        if layout in known:
            assert f"{crc16_en13757(headers):04X}" == known[layout], source
            matched += 1
    assert matched >= 8


def test_every_known_layout_signature_is_its_crc() -> None:
    for layout, signature in _known_layouts().items():
        assert f"{crc16_en13757(bytes.fromhex(layout)):04X}" == signature


def test_split_headers_kamwater_layout() -> None:
    vector = next(
        v
        for v in load_jsonl("wmbus.jsonl")
        if v["source"] == "wmbusmeters drivers/src/kamwater.xmq test 5"
    )
    ci_block = _records_block(bytes.fromhex(vector["frames"][-1]))
    assert ci_block is not None and ci_block[0] == 0x78
    block = ci_block[1]
    headers, data = split_headers(block)
    # The headers of this full frame are a layout the kamwater driver declares for its
    # compact frames.
    assert headers in KamstrupWater().compact_layouts
    assert headers == b"".join(r.header for r in parse_records(block))
    assert len(headers) + len(data) == len(block)


def test_split_headers_ignores_fillers_and_counts_manufacturer_dif() -> None:
    headers, data = split_headers(bytes.fromhex("2F2F0413010000000F0102"))
    assert headers == bytes.fromhex("04130F")
    assert data == bytes.fromhex("010000000102")


def test_parse_compact_gives_same_records_as_full_frame() -> None:
    for source, _frame, ci, block in _kamstrup_frames():
        if ci == 0x79:
            continue
        full = parse_records(block)
        headers, data = split_headers(block)
        compact = parse_compact(headers, data)
        strip = [r._replace(offset=0) for r in full]
        assert [r._replace(offset=0) for r in compact] == strip, source


def test_compact_frames_decode_with_known_layouts_and_data_crc() -> None:
    by_signature = {int(sig, 16): bytes.fromhex(lay) for lay, sig in _known_layouts().items()}
    checked = matched = 0
    for _source, _frame, ci, block in _kamstrup_frames():
        if ci != 0x79:
            continue
        signature = block[0] | block[1] << 8
        layout = by_signature.get(signature)
        if layout is None:
            continue
        records = parse_compact(layout, block[4:])
        # The data CRC covers the full frame's records (headers and data) rebuilt.
        rebuilt = b"".join(r.header + r.data for r in records)
        checked += 1
        if crc16_en13757(rebuilt) == block[2] | block[3] << 8:
            matched += 1
    # kamwater.xmq test 6 does not match (its full frame is not in the vectors to tell why).
    assert checked >= 10
    assert matched >= checked - 1


def test_compact_data_too_short_is_truncated_error() -> None:
    with pytest.raises(TruncatedError):
        parse_compact(bytes.fromhex("0413023B"), bytes.fromhex("0100000001"))


def test_compact_data_too_long_is_format_error() -> None:
    with pytest.raises(FormatError):
        parse_compact(bytes.fromhex("0413"), bytes.fromhex("0100000001"))


def test_compact_trailing_fillers_are_accepted() -> None:
    recs = parse_compact(bytes.fromhex("0413"), bytes.fromhex("010000002F2F"))
    assert recs[0].raw == 1


def test_compact_lvar_takes_length_from_data() -> None:
    recs = parse_compact(bytes.fromhex("0DFD0C0413"), bytes.fromhex("02424105000000"))
    assert recs[0].value == "AB"
    assert recs[1].raw == 5


def test_compact_manufacturer_dif_takes_rest() -> None:
    recs = parse_compact(bytes.fromhex("04130F"), bytes.fromhex("01000000AABB"))
    assert recs[-1].data == b"\xaa\xbb"
