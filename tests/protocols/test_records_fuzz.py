"""Fuzz: no byte string makes the record parsers raise anything but DecodeError."""

from __future__ import annotations

import contextlib
import random

from protocols.errors import DecodeError
from protocols.records import parse_compact, parse_records

# Real blocks to mutate (kamwater, amiplus, elvaco-like plain text, LVAR, dates).
SEEDS = [
    bytes.fromhex(
        "04FF2300080000441300000000523B000006FF1B08900008F0FF426CC12B61670A51671B023B0000"
        "04131F0F00008101E7FF0F13"
    ),
    bytes.fromhex("0E0350406915000B2B300300066D00790C7423400C78371204860BABC8FC10000000"),
    bytes.fromhex("02FC0348522574221522FC0348522574240D12FC034852257424"),
    bytes.fromhex("0DFD0C0820353331334D45690DFF5F020180046D2A06D8252F2F0F0102"),
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
