"""Fuzzing: whatever bytes arrive, the decoder raises DecodeError or nothing.

A seeded loop of random and mutated inputs (mutations of the real-meter vectors and of
telegrams from our own builder) runs in every CI run; ``make fuzz-long`` runs it longer
(CONCENTRATORD_FUZZ_ITERATIONS). The seed is printed so a failure can be replayed.
"""

from __future__ import annotations

import contextlib
import os
import random

from protocols.errors import DecodeError
from protocols.readout import telegram_fields
from protocols.records import Function
from protocols.records.build import build_header, encode_records
from protocols.telegram import MeterAddress
from protocols.textformats import telegram_from_hex
from protocols.wmbus.build import EllSpec, TelegramSpec, Tpl, build_telegram
from protocols.wmbus.decoder import TelegramDecoder
from protocols.wmbus.link import FrameFormat, add_crcs
from tests.protocols.vectors import load_json, load_jsonl

ITERATIONS = int(os.environ.get("CONCENTRATORD_FUZZ_ITERATIONS", "100000"))
SEED = int(os.environ.get("CONCENTRATORD_FUZZ_SEED", "13757"))
KEY = bytes(range(16))


def _corpus() -> tuple[list[bytes], dict[str, bytes]]:
    frames: list[bytes] = []
    keys: dict[str, bytes] = {}
    for vector in load_jsonl("wmbus.jsonl"):
        for hex_frame in vector["frames"]:
            frames.append(bytes.fromhex(hex_frame))
            key = vector.get("key")
            if key and len(key) == 32 and vector["link"] == "wireless":
                keys[hex_frame[8:16]] = bytes.fromhex(key)
    for vector in load_json("kamstrup_encrypted.json"):
        frames.append(bytes.fromhex(vector["telegram_hex"]))
        keys[vector["id"]] = bytes.fromhex(vector["key"])
    meter = MeterAddress("KAM", "11223344", 0x1B, 0x16)
    keys[meter.id] = KEY
    # A water meter's records: info codes, total and month volume, min flow temperature,
    # min external temperature (the shape of a Multical 21 telegram).
    records = encode_records(
        [
            (build_header(b"\xff\x20", 0x2), 0x0071),
            (build_header(b"\x13", 0x4), 1234),
            (build_header(b"\x13", 0x4, storage=1), 1200),
            (build_header(b"\x5b", 0x1, function=Function.MINIMUM, storage=1), 12),
            (build_header(b"\x67", 0x1, function=Function.MINIMUM, storage=1), 8),
        ]
    )
    for mode in (0, 5, 7):
        frames.append(build_telegram(TelegramSpec(meter, records, security_mode=mode), KEY))
    ell = EllSpec(access_number=5)
    frames.append(build_telegram(TelegramSpec(meter, records, tpl=Tpl.NONE, ell=ell), KEY))
    frames.append(build_telegram(TelegramSpec(meter, records, tpl=Tpl.COMPACT, ell=ell), KEY))
    return frames, keys


def _mutate(rng: random.Random, frame: bytes, corpus: list[bytes]) -> bytes:
    data = bytearray(frame)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif op == 2:
            data[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif op == 3:
            del data[pos : pos + rng.randint(1, 8)]
        elif op == 4:
            data = data[:pos]
        elif op == 5:
            other = rng.choice(corpus)
            cut = rng.randrange(len(other) + 1)
            data = data[:pos] + other[cut:]
        elif data and data[0] != 0x68:
            # Keep L consistent so the mutation reaches the layers behind the length check.
            data[0] = (len(data) - 1) & 0xFF
    if data and rng.random() < 0.1 and data[0] == len(data) - 1 and data[0] >= 10:
        with contextlib.suppress(DecodeError):  # too long for format B: send it bare
            return add_crcs(bytes(data), rng.choice([FrameFormat.A, FrameFormat.B]))
    return bytes(data)


def _decode(decoder: TelegramDecoder, raw: bytes) -> None:
    with contextlib.suppress(DecodeError):
        telegram_fields(decoder.decode(raw), with_records=True)


def test_random_and_mutated_frames_raise_only_decode_errors() -> None:
    corpus, keys = _corpus()
    rng = random.Random(SEED)
    decoder = TelegramDecoder(keys, reject_replays=True)
    for i in range(ITERATIONS):
        if i % 10 == 0:
            raw = rng.randbytes(rng.randint(0, 80))
        else:
            raw = _mutate(rng, rng.choice(corpus), corpus)
        try:
            _decode(decoder, raw)
        except Exception as err:  # pragma: no cover - this is the failure being hunted
            raise AssertionError(f"seed {SEED} iteration {i}: {raw.hex()} -> {err!r}") from err


def test_random_hex_lines_raise_only_decode_errors() -> None:
    rng = random.Random(SEED)
    alphabet = "0123456789abcdefABCDEF xX_|#\t-zé\x00"
    for _ in range(5000):
        line = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        with contextlib.suppress(DecodeError):
            telegram_from_hex(line)
