"""The TPL configuration field in its forms (EN 13757-7 clause 7.5.8, OMS Vol. 2): modes
0/5/7 with their flags, manufacturer-specific modes taken in clear when the payload reads
as records, and every other mode refused by name."""

from __future__ import annotations

import pytest

from protocols.errors import UnsupportedError, WrongKeyError
from protocols.readout import telegram_fields
from protocols.records import encode_scaled
from protocols.telegram import MeterAddress
from protocols.wmbus import layers
from protocols.wmbus.build import TelegramSpec, Tpl, build_telegram
from protocols.wmbus.config_field import Security, mode_name, parse_configuration_field
from protocols.wmbus.decoder import TelegramDecoder
from protocols.wmbus.security import mode2_encrypt

DES_KEY = bytes.fromhex("0F1E2D3C4B5A6978")

METER = MeterAddress("ACM", "60897379", 0x8B, 0x07)
RECORDS = encode_scaled(bytes.fromhex("0413"), 71.442)
CF_AT = 13  # L C M(2) A(6) CI ACC ST | CF (2, least significant byte first)


def with_cf(cf: int, records: bytes = RECORDS) -> bytes:
    frame = bytearray(build_telegram(TelegramSpec(METER, records, tpl=Tpl.SHORT)))
    frame[CF_AT : CF_AT + 2] = cf.to_bytes(2, "little")
    return bytes(frame)


def test_mode_5_gives_its_blocks_and_flags() -> None:
    cf = parse_configuration_field(0b1010_0101_0011_0101)
    assert (cf.mode, cf.encrypted_blocks, cf.content) == (5, 3, 1)
    assert (cf.bidirectional, cf.accessibility, cf.synchronous) == (True, False, True)
    assert (cf.repeated_access, cf.hop_counter) == (False, True)
    assert cf.name == "AES-128-CBC with IV" and cf.security is Security.SUPPORTED


def test_mode_7_announces_the_extension_byte() -> None:
    assert parse_configuration_field(0x0720).has_extension
    assert not parse_configuration_field(0x0520).has_extension


def test_the_other_bits_of_a_manufacturer_mode_are_not_guessed() -> None:
    cf = parse_configuration_field(0x7D10)  # accessibility and synchronous set, mode 29
    assert cf.mode == 29 and cf.security is Security.SPECIFIC
    assert cf.encrypted_blocks is None and cf.synchronous is None


@pytest.mark.parametrize(
    ("mode", "name"),
    [(3, "DES with IV, deprecated"), (8, "AES-128-CTR with CMAC"), (10, "AES-128-CCM")],
)
def test_defined_modes_not_implemented_are_refused_by_name(mode: int, name: str) -> None:
    assert mode_name(mode) == name
    with pytest.raises(UnsupportedError, match=f"TPL security mode {mode} \\({name}\\)"):
        TelegramDecoder({}).decode(with_cf(mode << 8))


@pytest.mark.parametrize("mode", [6, 11, 12, 14])
def test_reserved_modes_are_refused(mode: int) -> None:
    with pytest.raises(UnsupportedError, match=f"mode {mode} \\(reserved\\)"):
        TelegramDecoder({}).decode(with_cf(mode << 8))


def test_a_manufacturer_mode_sent_in_clear_is_decoded_with_a_warning() -> None:
    fields = telegram_fields(TelegramDecoder({}).decode(with_cf(0x7D10)))
    assert fields["total_m3"] == 71.442
    assert fields["warnings"] == [
        "TPL security mode 29 (manufacturer specific): the payload reads as plain records"
    ]


def test_a_manufacturer_mode_no_driver_knows_is_refused_naming_the_meter() -> None:
    telegram = TelegramDecoder({}).decode(with_cf(0x1006, bytes(range(0x80, 0x90))))
    assert telegram.records == ()
    with pytest.raises(UnsupportedError, match=r"mode 16 .*no driver knows the scheme of ACM"):
        telegram_fields(telegram)


def mode2_frame(key: bytes) -> bytes:
    """A mode 2 telegram: one 16-byte block DES-CBC encrypted (zero IV), 2F 2F first."""
    block = b"\x2f\x2f" + RECORDS
    block += b"\x2f" * (16 - len(block))
    frame = bytearray(with_cf(0x0210, b""))
    frame += mode2_encrypt(key, block)
    frame[0] = len(frame) - 1
    return bytes(frame)


def test_mode_2_is_decrypted_with_the_meters_des_key() -> None:
    telegram = TelegramDecoder({METER.id: DES_KEY}).decode(mode2_frame(DES_KEY))
    assert telegram.encrypted
    assert telegram_fields(telegram)["total_m3"] == 71.442


def test_mode_2_with_an_aes_key_is_the_wrong_key_said_so() -> None:
    with pytest.raises(WrongKeyError, match="mode 2 needs an 8-byte DES key, not 16 bytes"):
        TelegramDecoder({METER.id: bytes(16)}).decode(mode2_frame(DES_KEY))


def test_mode_2_with_another_des_key_is_the_wrong_key() -> None:
    with pytest.raises(WrongKeyError, match="wrong key for meter 60897379 \\(mode 2\\)"):
        TelegramDecoder({METER.id: bytes(8)}).decode(mode2_frame(DES_KEY))


def test_an_aes_mode_with_a_des_key_is_the_wrong_key_said_so() -> None:
    frame = build_telegram(TelegramSpec(METER, RECORDS, security_mode=5), bytes(16))
    with pytest.raises(WrongKeyError, match="mode 5 needs a 16-byte AES key"):
        TelegramDecoder({METER.id: DES_KEY}).decode(frame)


def test_the_fields_are_the_bits_of_the_layer_declaration_for_every_value() -> None:
    # config_field.py reads bits by hand for speed; layers.ConfigurationField declares them.
    for raw in range(1 << 16):
        cf = parse_configuration_field(raw)
        if cf.mode not in (0, 5, 7):
            continue
        declared = layers.ConfigurationField.parse(raw.to_bytes(2, "little"))
        assert (cf.bidirectional, cf.accessibility, cf.synchronous) == (
            declared.B,
            declared.A,
            declared.S,
        )
        assert (cf.content, cf.repeated_access, cf.hop_counter) == (
            declared.CC,
            declared.R,
            declared.H,
        )
        assert cf.encrypted_blocks == (declared.N if cf.mode else None)
