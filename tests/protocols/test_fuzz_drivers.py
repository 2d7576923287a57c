"""Fuzzing every driver (issue 12): for each driver of the registry, random application
data behind one of its own meter triples, under the CIs meters use (standard TPL, no TPL,
manufacturer CIs), only ever gives decoded fields or a DecodeError.

The frames are built here (link header from the triple, then the CI and random bytes);
mutated real-meter frames of every family are fuzzed in test_fuzz.py.
"""

from __future__ import annotations

import contextlib
import os
import random

import pytest

from protocols.errors import DecodeError
from protocols.meters.base import MeterDriver
from protocols.meters.registry import BUILTIN
from protocols.readout import telegram_fields
from protocols.records import encode_scaled
from protocols.telegram import MeterAddress
from protocols.wmbus.build import address_bytes
from protocols.wmbus.decoder import TelegramDecoder

ROUNDS = int(os.environ.get("CONCENTRATORD_FUZZ_DRIVER_ROUNDS", "1000"))
CIS = (0x7A, 0x78, 0x72, 0xA0, 0xA1, 0xA2, 0xA3, 0xB0, 0xB6)
TEMPLATES = (
    b"",
    b"\x00\x00\x00\x00",  # short TPL: ACC ST CF (no security)
    b"\x01\x00\x00\x00" + encode_scaled(bytes.fromhex("0413"), 12.345),
    b"\x2f\x2f" + encode_scaled(bytes.fromhex("0413"), 1.0),
)


def frame(meter: MeterAddress, ci: int, body: bytes) -> bytes:
    m_field, a_field = address_bytes(meter)
    rest = bytes([0x44]) + m_field + a_field + bytes([ci]) + body
    return bytes([len(rest) & 0xFF]) + rest


@pytest.mark.parametrize("driver", sorted(BUILTIN.drivers, key=lambda d: d.name), ids=str)
def test_random_data_behind_a_drivers_meters_gives_fields_or_a_decode_error(
    driver: MeterDriver,
) -> None:
    name = driver.name
    triples = sorted(driver.mvt)
    rng = random.Random(f"fuzz/{name}")
    decoder = TelegramDecoder({})
    for _ in range(ROUNDS):
        man, version, device_type = rng.choice(triples)
        meter = MeterAddress(man, f"{rng.randrange(10**8):08d}", version, device_type)
        body = bytearray(rng.choice(TEMPLATES))
        body += rng.randbytes(rng.randrange(0, 64))
        for _ in range(rng.randrange(0, 3)):
            if body:
                body[rng.randrange(len(body))] = rng.getrandbits(8)
        raw = frame(meter, rng.choice(CIS), bytes(body))
        with contextlib.suppress(DecodeError):
            fields = telegram_fields(decoder.decode(raw), registry=BUILTIN)
            # CI 0x72 carries the meter's own address: the sender may be another device.
            assert fields["meter"] in (name, "generic") or raw[10] == 0x72
