"""Fuzz: no byte string makes the record parsers raise anything but DecodeError."""

from __future__ import annotations

import contextlib
import random

from protocols.errors import DecodeError
from protocols.records import Function, parse_compact, parse_records
from protocols.records.build import build_header, encode_manufacturer_data, encode_records

INT8, INT16, INT32, INT48, LVAR, BCD6, BCD8, BCD12 = 0x1, 0x2, 0x4, 0x6, 0xD, 0xB, 0xC, 0xE


def _plain_text_unit(unit: bytes, vife: int, raw: int) -> bytes:
    """A record with VIF FC: its unit as LVAR text (last character first), one more VIFE."""
    return bytes([INT16, 0xFC, len(unit)]) + unit[::-1] + bytes([vife]) + raw.to_bytes(2, "little")


# Blocks to mutate, built to cover the record kinds meters send: a water meter's
# manufacturer, storage, minimum/maximum and manufacturer-VIFE records; an electricity
# meter's BCD energy and power with backward flow; plain-text units; LVAR text, binary
# and dates; fillers and manufacturer data.
SEEDS = [
    encode_records(
        [
            (build_header(b"\xff\x23", INT32), 0x100),
            (build_header(b"\x13", INT32, storage=1), 1234),
            (build_header(b"\x3b", INT16, function=Function.MAXIMUM, storage=1), 16),
            (build_header(b"\xff\x1b", INT48), 0x1234),
            (build_header(b"\x6c", INT16, storage=1), "2023-06-01"),
            (build_header(b"\x67", INT8, function=Function.MINIMUM, storage=1), 10),
            (build_header(b"\x67", INT8, function=Function.MAXIMUM, storage=1), 24),
            (build_header(b"\x3b", INT16), 0),
            (build_header(b"\x13", INT32), 1300),
            (build_header(b"\xe7\xff\x0f", INT8, storage=2), 0x13),
        ]
    ),
    encode_records(
        [
            (build_header(b"\x03", BCD12), 1234567),
            (build_header(b"\x2b", BCD6), 1500),
            (build_header(b"\x6d", INT48), "2024-07-19 08:30:45"),
            (build_header(b"\x78", BCD8), 20242024),
            (build_header(b"\x83\x3c", BCD12), 250),
            (build_header(b"\xab\x3c", BCD6), 0),
        ]
    ),
    _plain_text_unit(b"%RH", 0x74, 4321) + _plain_text_unit(b"%RH", 0x74, 3620),
    encode_records(
        [
            (build_header(b"\xfd\x0c", LVAR), "ACME-42 "),
            (build_header(b"\xff\x5f", LVAR), b"\x01\x80"),
            (build_header(b"\x6d", INT32), "2023-01-15 12:00"),
        ]
    )
    + b"\x2f\x2f"
    + encode_manufacturer_data(b"\x01\x02"),
    bytes.fromhex("8D04EE132C3BFE990000520000100000000000" + "FF" * 30 + "2F2F"),
]


def _check(data: bytes, layout: bytes) -> None:
    with contextlib.suppress(DecodeError):
        parse_records(data)
    with contextlib.suppress(DecodeError):
        parse_compact(layout, data)


def test_random_and_mutated_inputs_raise_only_decode_errors() -> None:
    rng = random.Random(13757)
    for i in range(20_000):
        if i % 2:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 64)))
        else:
            buf = bytearray(rng.choice(SEEDS))
            for _ in range(rng.randrange(1, 6)):
                op = rng.randrange(3)
                if op == 0 and buf:
                    buf[rng.randrange(len(buf))] = rng.getrandbits(8)
                elif op == 1 and buf:
                    del buf[rng.randrange(len(buf)) :]
                else:
                    buf.insert(rng.randrange(len(buf) + 1), rng.getrandbits(8))
            data = bytes(buf)
        layout = rng.choice(SEEDS)[: rng.randrange(0, 24)]
        _check(data, layout)
        _check(data, data[: rng.randrange(0, len(data) + 1)])
