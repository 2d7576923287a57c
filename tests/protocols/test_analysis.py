"""``analyze``: one telegram laid open (docs/cli.md, "concentratord analyze"), built here by
the project's own builder."""

from __future__ import annotations

import random

from protocols.analysis import analyze
from protocols.records import encode_scaled
from protocols.telegram import MeterAddress
from protocols.wmbus.build import EllSpec, TelegramSpec, Tpl, build_telegram
from protocols.wmbus.link import FrameFormat

KEY = bytes(range(16))
ACME = MeterAddress("ACM", "12345678", 0x01, 0x07)
KAMSTRUP = MeterAddress("KAM", "76348799", 0x1B, 0x16)
VOLUME = encode_scaled(bytes.fromhex("0413"), 12.345)


def plain(meter: MeterAddress = ACME, records: bytes = VOLUME) -> bytes:
    return build_telegram(TelegramSpec(meter, records, tpl=Tpl.SHORT, access_number=9))


def fields_of(report: dict[str, object], layer: str) -> dict[str, dict[str, object]]:
    layers = report["layers"]
    assert isinstance(layers, list)
    (found,) = [x for x in layers if x["layer"] == layer]
    return {f["name"]: f for f in found["fields"]}


def test_the_link_header_is_annotated_where_it_sits() -> None:
    link = fields_of(analyze(plain()), "link")
    assert link["M"]["offset"] == 2 and link["M"]["meaning"] == "manufacturer ACM"
    assert link["A.id"]["meaning"] == "meter id 12345678"
    assert link["A.type"]["meaning"] == "device type 0x07: water"
    assert link["CI"]["meaning"] == "0x7A: TPL short header"


def test_the_tpl_header_names_its_security_mode() -> None:
    tpl = fields_of(analyze(plain()), "TPL")
    assert tpl["ACC"]["meaning"] == "access number 9"
    assert tpl["CF"]["meaning"] == "security mode 0 (no security)"


def test_each_record_has_its_offset_in_the_frame_and_its_meaning() -> None:
    (record,) = analyze(plain())["records"]  # type: ignore[misc]
    assert record["offset"] == 15 and record["header"] == "0413"
    assert record["dif"] == "04: 32-bit integer"
    assert record["meaning"] == "volume, instantaneous, storage 0"
    assert (record["value"], record["unit"]) == (12.345, "m3")


def test_the_claiming_driver_and_the_generic_decoding_are_both_given() -> None:
    drivers = analyze(plain(KAMSTRUP))["drivers"]
    assert drivers["claimed_by"] == "kamwater"  # type: ignore[index]
    assert drivers["generic"]["total_m3"] == 12.345  # type: ignore[index]
    assert drivers["fields"]["meter"] == "kamwater"  # type: ignore[index]


def test_a_meter_no_driver_claims_is_the_generic_drivers() -> None:
    report = analyze(plain())
    assert report["outcome"] == "ok"
    assert report["drivers"]["claimed_by"] == "generic"  # type: ignore[index]


def test_an_encrypted_telegram_without_its_key_says_no_key() -> None:
    frame = build_telegram(TelegramSpec(ACME, VOLUME, security_mode=5), KEY)
    report = analyze(frame)
    assert report["outcome"] == "error"
    assert report["error"]["kind"] == "no key"  # type: ignore[index]
    assert fields_of(report, "TPL")["CF"]["meaning"].startswith(  # type: ignore[union-attr]
        "security mode 5 (AES-128-CBC with IV), 1 encrypted blocks"
    )


def test_an_encrypted_telegram_with_another_key_says_wrong_key() -> None:
    frame = build_telegram(TelegramSpec(ACME, VOLUME, security_mode=5), KEY)
    report = analyze(frame, {ACME.id: bytes(16)})
    assert report["error"]["kind"] == "wrong key"  # type: ignore[index]


def test_with_its_key_an_encrypted_telegram_decodes() -> None:
    frame = build_telegram(TelegramSpec(ACME, VOLUME, security_mode=5), KEY)
    report = analyze(frame, {ACME.id: KEY})
    assert report["outcome"] == "ok" and report["encrypted"] is True


def test_a_compact_frame_of_an_unknown_layout_says_so() -> None:
    frame = build_telegram(TelegramSpec(ACME, VOLUME, tpl=Tpl.COMPACT))
    report = analyze(frame)
    assert report["error"]["kind"] == "unknown compact format signature"  # type: ignore[index]
    assert "compact" in [layer["layer"] for layer in report["layers"]]  # type: ignore[attr-defined]


def test_the_ell_header_shows_its_session_and_encryption() -> None:
    frame = build_telegram(TelegramSpec(ACME, VOLUME, tpl=Tpl.NONE, ell=EllSpec()), KEY)
    ell = fields_of(analyze(frame, {ACME.id: KEY}), "ELL")
    assert ell["SN"]["meaning"] == "session number, encryption AES-128-CTR"


def test_a_frame_with_link_layer_crcs_is_shown_without_them() -> None:
    report = analyze(build_telegram(TelegramSpec(ACME, VOLUME), None, FrameFormat.A))
    assert report["link_layer_crcs"] == "format A"
    assert report["frame"] == plain_frame_hex()


def plain_frame_hex() -> str:
    return build_telegram(TelegramSpec(ACME, VOLUME)).hex().upper()


def test_a_record_cut_short_is_a_warning_with_the_records_before_it() -> None:
    report = analyze(plain(records=VOLUME + b"\x04"))
    assert report["outcome"] == "ok" and len(report["records"]) == 1  # type: ignore[arg-type]
    assert "record has no VIF" in report["warnings"][0]  # type: ignore[index]


def test_random_and_mutated_input_never_raises() -> None:
    rng = random.Random(42)
    seeds = [
        plain(),
        plain(KAMSTRUP),
        build_telegram(TelegramSpec(ACME, VOLUME, security_mode=5), KEY),
    ]
    for i in range(3000):
        if i % 2:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 60)))
        else:
            buf = bytearray(rng.choice(seeds))
            for _ in range(rng.randrange(1, 4)):
                buf[rng.randrange(len(buf))] = rng.getrandbits(8)
            data = bytes(buf[: rng.randrange(len(buf) + 1)])
        report = analyze(data, {ACME.id: KEY})
        assert report["outcome"] in ("ok", "error")
