"""The Qundis ``qcaloric`` driver (standard and walk-by telegrams)."""

from __future__ import annotations

from protocols.meters.registry import decode_fields
from protocols.records import parse_records
from protocols.records.build import encode_records
from protocols.telegram import MeterAddress, Telegram
from tests.protocols.test_vectors_wmbus import decode_vector, mismatches
from tests.protocols.vectors import load_jsonl

METER = MeterAddress("QDS", "12345678", 0x34, 0x08)


def _telegram(payload: bytes, ci: int = 0x7A, status: int | None = 0) -> Telegram:
    return Telegram(
        METER, METER, 0x44, ci, 1, status, 0, 0, False, payload, tuple(parse_records(payload))
    )


def test_vectors_decode_exactly() -> None:
    vectors = [v for v in load_jsonl("wmbus.jsonl") if v["driver"] == "qcaloric"]
    assert vectors
    for vector in vectors:
        fields = decode_vector(vector)
        assert fields["meter"] == "qcaloric"
        assert mismatches(vector["expected"], fields) == {}


def _walk_by(vif: int = 0x6E, encrypted: bool = False) -> bytes:
    block = bytearray(53)
    block[1] = 0x82
    block[4] = 0x35 if encrypted else 0x00
    block[9] = vif
    block[10:12] = b"\xff\xff"
    block[12:16] = bytes.fromhex("23010000")  # 123, BCD
    block[16:18] = bytes.fromhex("9f2c")  # 2020-12-31
    block[18:22] = bytes.fromhex("56040000")  # 456
    block[22:24] = bytes.fromhex("be26")  # 2021-06-30
    block[24:28] = bytes.fromhex("78000000")  # 78
    return b"\x0d\xff\x5f\x35" + bytes(block)


def test_walk_by_block_gives_the_billing_values() -> None:
    fields = decode_fields(_telegram(_walk_by(), ci=0x78, status=None))
    assert fields["current_consumption_hca"] == 123
    assert fields["set_date"] == fields["set_date_1"] == "2020-12-31"
    assert fields["consumption_at_set_date_hca"] == fields["consumption_at_set_date_1_hca"] == 456
    assert fields["set_date_17"] == "2021-06-30"
    assert fields["consumption_at_set_date_17_hca"] == 78


def test_encrypted_or_foreign_walk_by_block_is_not_read() -> None:
    for payload in (_walk_by(encrypted=True), _walk_by(vif=0x13)):
        fields = decode_fields(_telegram(payload, ci=0x78, status=None))
        assert "current_consumption_hca" not in fields


def test_standard_records_and_tpl_status() -> None:
    payload = encode_records([(b"\x0b\x6e", 97), (b"\x01\xfd\x73", 0)])
    fields = decode_fields(_telegram(payload, status=0x04))
    assert fields["current_consumption_hca"] == 97
    assert fields["status"] == "POWER_LOW"
