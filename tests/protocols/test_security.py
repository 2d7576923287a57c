"""Security: ELL AES-CTR, TPL modes 5 and 7, keys missing, wrong or superfluous.

Mode 7 has no public known-answer vector at hand: it is proven by round trip with our own
builder, plus tampering tests (see docs/decisions/0005).
"""

from __future__ import annotations

import pytest

from protocols.errors import (
    NoKeyError,
    NotEncryptedError,
    ReplayError,
    WrongKeyError,
)
from protocols.telegram import MeterAddress
from protocols.wmbus.build import EllSpec, TelegramSpec, Tpl, build_telegram
from protocols.wmbus.decoder import TelegramDecoder
from tests.protocols.vectors import load_json

KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
OTHER_KEY = bytes.fromhex("F0E0D0C0B0A090807060504030201000")
METER = MeterAddress("ELS", "12345678", 0x01, 0x07)
RECORDS = bytes.fromhex("0413E8030000426C7F2A")  # 1.000 m3; date 2019-10-31


def decoder(key: bytes | None = KEY, **kw: bool) -> TelegramDecoder:
    return TelegramDecoder({METER.id: key} if key else {}, **kw)


def spec(mode: int, **kw: int) -> TelegramSpec:
    return TelegramSpec(meter=METER, records=RECORDS, security_mode=mode, access_number=7, **kw)


def volume(telegram_records: tuple[object, ...]) -> object:
    return telegram_records[0].value  # type: ignore[attr-defined]


# -- ELL AES-128-CTR on real Kamstrup telegrams --------------------------------------------


@pytest.fixture(scope="module")
def kamstrup() -> list[dict[str, object]]:
    vectors: list[dict[str, object]] = load_json("kamstrup_encrypted.json")
    return vectors


def test_ell_ctr_decrypts_real_kamstrup_telegrams(kamstrup: list[dict[str, str]]) -> None:
    # One decoder: the compact frame's layout is learnt from the full frame before it.
    dec = TelegramDecoder({v["id"]: bytes.fromhex(v["key"]) for v in kamstrup})
    for vector in kamstrup:
        telegram = dec.decode(bytes.fromhex(vector["telegram_hex"]))
        assert telegram.encrypted
        clear = bytes.fromhex(vector["decrypted_hex_by_us"])
        assert clear.endswith(telegram.payload)


def test_ell_ctr_with_wrong_key_is_wrong_key_error(kamstrup: list[dict[str, str]]) -> None:
    vector = kamstrup[0]
    dec = TelegramDecoder({vector["id"]: OTHER_KEY})
    with pytest.raises(WrongKeyError) as err:
        dec.decode(bytes.fromhex(vector["telegram_hex"]))
    assert err.value.meter_id == vector["id"]


def test_ell_ctr_without_key_is_no_key_error_naming_the_meter(
    kamstrup: list[dict[str, str]],
) -> None:
    with pytest.raises(NoKeyError) as err:
        TelegramDecoder({}).decode(bytes.fromhex(kamstrup[0]["telegram_hex"]))
    assert err.value.meter_id == "76348799"
    assert err.value.manufacturer == "KAM"


def test_ell_plaintext_is_accepted_without_a_key(kamstrup: list[dict[str, str]]) -> None:
    telegram = TelegramDecoder({}).decode(bytes.fromhex(kamstrup[0]["decrypted_hex_by_us"]))
    assert not telegram.encrypted
    assert telegram.records


def test_ell_plaintext_is_refused_when_a_key_is_configured(
    kamstrup: list[dict[str, str]],
) -> None:
    vector = kamstrup[0]
    dec = TelegramDecoder({vector["id"]: bytes.fromhex(vector["key"])})
    with pytest.raises(NotEncryptedError):
        dec.decode(bytes.fromhex(vector["decrypted_hex_by_us"]))


def test_ell_ctr_round_trips_through_the_builder() -> None:
    ell = EllSpec(cc=0x20, access_number=0x91, session=3, time=1234)
    frame = build_telegram(TelegramSpec(meter=METER, records=RECORDS, tpl=Tpl.NONE, ell=ell), KEY)
    telegram = decoder().decode(frame)
    assert telegram.encrypted
    assert telegram.payload == RECORDS
    assert telegram.access_number == 0x91


# -- TPL security mode 5 ---------------------------------------------------------------------


def test_mode5_round_trips() -> None:
    telegram = decoder().decode(build_telegram(spec(5), KEY))
    assert telegram.security_mode == 5
    assert telegram.encrypted
    assert telegram.payload.startswith(b"\x2f\x2f" + RECORDS)


def test_mode5_wrong_key_is_wrong_key_error() -> None:
    with pytest.raises(WrongKeyError):
        decoder(OTHER_KEY).decode(build_telegram(spec(5), KEY))


def test_mode5_missing_key_is_no_key_error() -> None:
    with pytest.raises(NoKeyError) as err:
        decoder(None).decode(build_telegram(spec(5), KEY))
    assert err.value.meter_id == METER.id


def test_mode5_plaintext_refused_with_key() -> None:
    clear = TelegramSpec(
        meter=METER, records=(b"\x2f\x2f" + RECORDS).ljust(16, b"\x2f"), security_mode=0
    )
    frame = bytearray(build_telegram(clear))
    frame[14] = 0x05  # CF high byte: claim mode 5 ...
    frame[13] = 0x10  # ... with one encrypted block
    with pytest.raises(NotEncryptedError):
        decoder().decode(bytes(frame))


def test_mode5_long_header_uses_the_inner_meter_address() -> None:
    inner = MeterAddress("KAM", "87654321", 0x1B, 0x16)
    frame = build_telegram(
        TelegramSpec(meter=METER, records=RECORDS, tpl=Tpl.LONG, tpl_meter=inner, security_mode=5),
        KEY,
    )
    telegram = TelegramDecoder({inner.id: KEY}).decode(frame)
    assert telegram.meter == inner
    assert telegram.link == METER


# -- TPL security mode 7 (AFL, CMAC key derivation) -------------------------------------------


def test_mode7_round_trips() -> None:
    telegram = decoder().decode(build_telegram(spec(7, message_counter=42), KEY))
    assert telegram.security_mode == 7
    assert telegram.payload.startswith(b"\x2f\x2f" + RECORDS)


def test_mode7_tampered_ciphertext_fails_the_mac() -> None:
    frame = bytearray(build_telegram(spec(7, message_counter=42), KEY))
    frame[-1] ^= 0x01
    with pytest.raises(WrongKeyError, match="MAC"):
        decoder().decode(bytes(frame))


def test_mode7_wrong_key_fails_the_mac() -> None:
    with pytest.raises(WrongKeyError):
        decoder(OTHER_KEY).decode(build_telegram(spec(7, message_counter=42), KEY))


def test_mode7_replayed_counter_is_rejected_when_guarding() -> None:
    dec = decoder(reject_replays=True)
    dec.decode(build_telegram(spec(7, message_counter=42), KEY))
    with pytest.raises(ReplayError):
        dec.decode(build_telegram(spec(7, message_counter=42), KEY))


def test_mode7_growing_counter_is_accepted_when_guarding() -> None:
    dec = decoder(reject_replays=True)
    dec.decode(build_telegram(spec(7, message_counter=42), KEY))
    assert dec.decode(build_telegram(spec(7, message_counter=43), KEY)).security_mode == 7


def test_mode7_missing_key_is_no_key_error() -> None:
    with pytest.raises(NoKeyError):
        decoder(None).decode(build_telegram(spec(7, message_counter=1), KEY))
