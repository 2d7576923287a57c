"""``concentratord demo``: sample telegrams made by our own builder, as hex lines.

A newcomer's first look at what the decoder does, without a radio: Kamstrup water, heat,
pressure and electricity meters (ELL AES-128-CTR, full and compact frames) and OMS meters
with TPL security modes 5 and 7, plus one telegram for a meter whose key is not given.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from protocols.records import encode_records
from protocols.records.build import RawValue
from protocols.telegram import MeterAddress
from protocols.wmbus.build import EllSpec, TelegramSpec, Tpl, build_telegram
from protocols.wmbus.link import FrameFormat


@dataclass(frozen=True)
class DemoMeter:
    """One demo meter: its address, key, and records as (header, raw value) pairs."""

    address: MeterAddress
    key: bytes
    records: list[tuple[bytes, RawValue]]
    ell: bool = True
    mode: int = 0


def _h(text: str) -> bytes:
    return bytes.fromhex(text)


def demo_meters() -> list[DemoMeter]:
    """The demo field: deterministic, so the output is the same on every machine."""
    return [
        DemoMeter(  # Kamstrup Multical 21 cold water: info codes, volume, target, temps
            MeterAddress("KAM", "76348801", 0x1B, 0x16),
            _h("0F1E2D3C4B5A69788796A5B4C3D2E1F0"),
            [
                (_h("02FF20"), 0x0004),
                (_h("0413"), 123456),
                (_h("4413"), 120001),
                (_h("615B"), 9),
                (_h("6167"), 14),
            ],
        ),
        DemoMeter(  # Kamstrup Multical 403 heat meter
            MeterAddress("KAM", "67676801", 0x30, 0x04),
            _h("00112233445566778899AABBCCDDEEFF"),
            [
                (_h("0306"), 4400),
                (_h("4306"), 4000),
                (_h("0314"), 9960),
                (_h("426C"), "2026-10-31"),
                (_h("022D"), 19),
                (_h("01FF21"), 0),
            ],
        ),
        DemoMeter(  # Kamstrup pressure sensor
            MeterAddress("KAM", "77000401", 0x01, 0x18),
            _h("A1A2A3A4A5A6A7A8A9AAABACADAEAFB0"),
            [
                (_h("2269"), 102),
                (_h("1269"), 103),
                (_h("0269"), 102),
                (_h("05FF09"), b"\x00\x00\x00\x00"),
                (_h("05FF0A"), b"\x00\x00\x00\x00"),
                (_h("02FD17"), 0x0008),
            ],
        ),
        DemoMeter(  # OMS water meter, TPL security mode 5
            MeterAddress("DEM", "12345601", 0x01, 0x07),
            _h("5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A"),
            [(_h("0C13"), 1234567), (_h("4C13"), 1200000), (_h("426C"), "2026-10-31")],
            ell=False,
            mode=5,
        ),
        DemoMeter(  # OMS heat meter, TPL security mode 7 (AFL with CMAC)
            MeterAddress("DEM", "12345602", 0x01, 0x04),
            _h("C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3"),
            [
                (_h("0C06"), 98765),
                (_h("0C14"), 432100),
                (_h("0B2D"), 12),
                (_h("0A5A"), 552),
                (_h("0A5E"), 401),
            ],
            ell=False,
            mode=7,
        ),
    ]


def demo_lines() -> tuple[list[str], dict[str, bytes]]:
    """The demo telegrams as hex lines, and the keys that decrypt them."""
    lines: list[str] = []
    keys: dict[str, bytes] = {}
    for number, meter in enumerate(demo_meters()):
        records = encode_records(meter.records)
        keys[meter.address.id] = meter.key
        if meter.ell:
            for n, tpl in enumerate((Tpl.NONE, Tpl.COMPACT)):
                ell = EllSpec(access_number=0x40 + 2 * number + n, time=1000 + n)
                spec = TelegramSpec(meter.address, records, tpl=tpl, ell=ell)
                fmt = FrameFormat.A if number % 2 else FrameFormat.NONE
                lines.append(build_telegram(spec, meter.key, fmt).hex().upper())
        else:
            spec = TelegramSpec(
                meter.address,
                records,
                security_mode=meter.mode,
                access_number=0x10 + number,
                message_counter=100 + number,
            )
            lines.append(build_telegram(spec, meter.key).hex().upper())
    # A meter whose key the gateway does not have: decode reports it, and goes on.
    stranger = TelegramSpec(
        MeterAddress("KAM", "99999999", 0x1B, 0x16),
        encode_records([(_h("0413"), 1)]),
        tpl=Tpl.NONE,
        ell=EllSpec(access_number=1),
    )
    lines.append(build_telegram(stranger, bytes(16)).hex().upper())
    return lines, keys


def run_demo(keys_out: str | None = None) -> int:
    """Print the demo telegrams; write their keys file to ``keys_out`` when given."""
    lines, keys = demo_lines()
    if keys_out is not None:
        with open(keys_out, "w", encoding="utf-8") as f:
            f.write("# concentratord demo keys: ID HEX\n")
            for meter_id, key in keys.items():
                f.write(f"{meter_id} {key.hex().upper()}\n")
    for line in lines:
        sys.stdout.write(line + "\n")
    sys.stdout.flush()
    return 0
