"""Kamstrup KEM key files (protocols/kem.py): the documented layout, round trips through our
builder, refusals with a reason, and a fuzz in which nothing but KemError escapes."""

from __future__ import annotations

import base64
import io
import re
import zipfile

import pytest
from Crypto.Cipher import AES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols.kem import KemError, build_kem, build_kem_document, parse_kem

PASSWORD = "Customer42"
KEYS = {
    "76348822": bytes.fromhex("FD83029839F59A18AB3D49013E0B33ED"),
    "23541719": bytes(range(16)),
}
ONE = {"12345678": bytes(range(16, 32))}


def _aes_key(password: str) -> bytes:
    return password.encode("utf-8").ljust(16, b"\0")


def _ciphertext_of(document: bytes) -> bytes:
    found = re.search(rb"<CipherValue>([^<]*)</CipherValue>", document)
    assert found is not None
    return base64.b64decode(found.group(1))


def _encrypt(content: bytes, password: str) -> bytes:
    """AES-128-CBC, key and IV both the zero-padded password, PKCS#7-style padding."""
    key = _aes_key(password)
    pad = 16 - len(content) % 16
    return AES.new(key, AES.MODE_CBC, iv=key).encrypt(content + bytes([pad]) * pad)


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            member = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(member, content, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _refused(data: bytes, match: str, password: str = PASSWORD) -> None:
    with pytest.raises(KemError, match=match):
        parse_kem(data, password)


# -- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("schema", ["kem", "kem2"])
@pytest.mark.parametrize("zipped", [False, True], ids=["plain", "zipped"])
def test_round_trip_gives_back_the_keys(schema: str, zipped: bool) -> None:
    data = build_kem(KEYS, PASSWORD, schema=schema, zipped=zipped)  # type: ignore[arg-type]
    assert parse_kem(data, PASSWORD) == KEYS


@pytest.mark.parametrize("password", ["", "x", "sixteen-chars-pw", "Kødmåler"])
def test_round_trip_with_passwords_up_to_sixteen_bytes(password: str) -> None:
    assert parse_kem(build_kem(ONE, password), password) == ONE


def test_password_longer_than_sixteen_bytes_is_refused() -> None:
    with pytest.raises(KemError, match="too long"):
        parse_kem(build_kem(ONE, PASSWORD), "seventeen-chars-p")
    with pytest.raises(KemError, match="too long"):
        build_kem(ONE, "æøåæøåæøå")  # 9 characters, 18 bytes


# -- the layout the public sources describe, checked without the parser ---------------------


def test_built_file_decrypts_with_the_padded_password_as_key_and_iv() -> None:
    document = build_kem(ONE, PASSWORD)
    key = _aes_key(PASSWORD)
    plain = AES.new(key, AES.MODE_CBC, iv=key).decrypt(_ciphertext_of(document))
    assert plain.startswith(b"<MetersInOrder><Meter>")
    assert b"<SerialNo>12345678</SerialNo>" in plain
    assert b"<DEK>101112131415161718191A1B1C1D1E1F</DEK>" in plain


def test_zero_iv_garbles_only_the_first_block() -> None:
    # What App::KamstrupKemSplit patches over by rewriting the start of the XML.
    document = build_kem(ONE, PASSWORD)
    key = _aes_key(PASSWORD)
    ciphertext = _ciphertext_of(document)
    right = AES.new(key, AES.MODE_CBC, iv=key).decrypt(ciphertext)
    zero_iv = AES.new(key, AES.MODE_CBC, iv=bytes(16)).decrypt(ciphertext)
    assert zero_iv[:16] != right[:16]
    assert zero_iv[16:] == right[16:]


def test_hand_written_kem_file_with_all_fields_is_read() -> None:
    # Written here by hand, not by build_kem: a namespace prefix, a wrapped CipherValue, and
    # the other fields of a meter entry that the parser must skip over.
    inner = (
        b"<MetersInOrder>"
        b"<Meter><MeterName>MC21</MeterName><MeterNo>76348822</MeterNo>"
        b"<SerialNo>76348822</SerialNo><VendorId>KAM</VendorId><TypeNo>02146C0K879</TypeNo>"
        b"<ConfigNo>0100200023533</ConfigNo><ConsumptionType>VolumeCold</ConsumptionType>"
        b"<DEK>FD83029839F59A18AB3D49013E0B33ED</DEK><GPK1></GPK1></Meter>"
        b"<Meter><MeterName>MC21</MeterName><SerialNo>11111111</SerialNo><DEK/></Meter>"
        b"</MetersInOrder>"
    )
    encoded = base64.b64encode(_encrypt(inner, PASSWORD)).decode()
    wrapped = "\n".join(encoded[i : i + 64] for i in range(0, len(encoded), 64))
    document = (
        '<?xml version="1.0" encoding="utf-8"?>\r\n'
        '<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#">\r\n'
        '  <xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>\r\n'
        f"  <xenc:CipherData><xenc:CipherValue>\n{wrapped}\n</xenc:CipherValue>"
        "</xenc:CipherData>\r\n</xenc:EncryptedData>\r\n"
    ).encode()
    assert parse_kem(document, PASSWORD) == {
        "76348822": bytes.fromhex("FD83029839F59A18AB3D49013E0B33ED")
    }


def test_hand_written_kem2_file_is_read() -> None:
    inner = (
        b'<?xml version="1.0" encoding="utf-8"?><Devices><Device>'
        b"<ShortName>FLOWIQ 21XX</ShortName><SerialNumber>23541719</SerialNumber>"
        b"<CustomerDeviceNumber>42</CustomerDeviceNumber>"
        b"<Keys><Key><Name>GPK1</Name><Value>00</Value></Key>"
        b"<Key><Name>DEK</Name><Value>b353964ff03130cb79379b9abca6e7af</Value></Key></Keys>"
        b"</Device></Devices>"
    )
    document = build_kem_document(inner, PASSWORD)
    assert parse_kem(document, PASSWORD) == {
        "23541719": bytes.fromhex("B353964FF03130CB79379B9ABCA6E7AF")
    }


def _padded(content: bytes, kind: str) -> bytes:
    count = 16 - len(content) % 16
    if kind == "zeros":
        return content + bytes(count)
    if kind == "xmlenc":  # arbitrary octets, the last one giving the count
        return content + (b"\x07\xfe\x00>" * 4)[: count - 1] + bytes([count])
    return content + (b"\r\n" * 8)[:count]  # blanks


@pytest.mark.parametrize("kind", ["zeros", "xmlenc", "blanks"])
def test_trailing_padding_of_any_kind_is_removed(kind: str) -> None:
    inner = b"<MetersInOrder><Meter><SerialNo>12345678</SerialNo><DEK>" + b"AB" * 16
    inner = _padded(inner + b"</DEK></Meter></MetersInOrder>", kind)
    key = _aes_key(PASSWORD)
    ciphertext = AES.new(key, AES.MODE_CBC, iv=key).encrypt(inner)
    document = b"<EncryptedData><CipherData><CipherValue>"
    document += base64.b64encode(ciphertext) + b"</CipherValue></CipherData></EncryptedData>"
    assert parse_kem(document, PASSWORD) == {"12345678": b"\xab" * 16}


# -- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["customer42", "Customer4", "Customer42 ", ""])
def test_wrong_password_is_refused(password: str) -> None:
    _refused(build_kem(KEYS, PASSWORD), "wrong password", password)
    _refused(build_kem(KEYS, PASSWORD, schema="kem2", zipped=True), "wrong password", password)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "not well-formed"),
        (b"hello", "not well-formed"),
        (b"\xff\xfe<\0a\0/\0>\0", "not UTF-8"),
        (b"<EncryptedData/>", "no CipherData/CipherValue"),
        (b"<Keys><CipherValue>AAAA</CipherValue></Keys>", "no EncryptedData"),
        (b"<EncryptedData><CipherData><CipherValue/></CipherData></EncryptedData>", "0 bytes"),
        (b"<EncryptedData><CipherData><CipherValue>!!</CipherValue></CipherData></EncryptedData>",
         "not base64"),
        (b"<EncryptedData><CipherData><CipherValue>AAAA</CipherValue></CipherData></EncryptedData>",
         "whole number of AES blocks"),
    ],
    ids=["empty", "text", "utf16", "no-cipher", "no-encrypted-data", "empty-value", "not-b64",
         "short"],
)  # fmt: skip
def test_malformed_outer_file_is_refused(data: bytes, match: str) -> None:
    _refused(data, match)


def test_other_encryption_method_is_refused() -> None:
    document = build_kem(ONE, PASSWORD).replace(b"aes128-cbc", b"aes256-cbc")
    _refused(document, "encryption method")


def test_doctype_in_the_file_is_refused() -> None:
    document = build_kem(ONE, PASSWORD).replace(
        b"\n<EncryptedData", b'\n<!DOCTYPE x [<!ENTITY a "aaaa">]>\n<EncryptedData'
    )
    _refused(document, "DOCTYPE")


def test_entity_declaration_in_the_decrypted_content_is_refused() -> None:
    inner = b'<!DOCTYPE MetersInOrder [<!ENTITY k "AB">]><MetersInOrder/>'
    _refused(build_kem_document(inner, PASSWORD), "DOCTYPE")


def test_file_larger_than_the_limit_is_refused() -> None:
    data = build_kem(KEYS, PASSWORD)
    with pytest.raises(KemError, match="too large"):
        parse_kem(data, PASSWORD, max_bytes=len(data) - 1)


def test_zip_member_larger_than_the_limit_is_refused() -> None:
    document = build_kem(KEYS, PASSWORD) + b" " * 100_000  # trailing blanks: still valid XML
    archive = _zip({"keys.kem": document})
    assert len(archive) < 2000
    with pytest.raises(KemError, match="unpacks to"):
        parse_kem(archive, PASSWORD, max_bytes=50_000)


@pytest.mark.parametrize(
    "members",
    [{"readme.txt": b"hello"}, {"a.kem": b"<x/>", "b.kem2": b"<y/>"}, {}],
    ids=["none", "two", "empty"],
)
def test_zip_without_exactly_one_kem_file_is_refused(members: dict[str, bytes]) -> None:
    _refused(_zip(members), "expected one")


def test_damaged_zip_is_refused() -> None:
    archive = build_kem(KEYS, PASSWORD, zipped=True)
    _refused(archive[: len(archive) // 2], "damaged zip")


def test_decrypted_content_that_is_not_xml_is_refused() -> None:
    _refused(build_kem_document(b"<MetersInOrder><Meter>", PASSWORD), "not well-formed")


def test_decrypted_content_with_an_unknown_root_is_refused() -> None:
    _refused(build_kem_document(b"<Orders><Meter/></Orders>", PASSWORD), "root element <Orders>")


@pytest.mark.parametrize("serial", ["1234567", "123456789", "1234567a", "", "١٢٣٤٥٦٧٨"])
def test_serial_number_that_is_not_eight_digits_is_refused(serial: str) -> None:
    inner = f"<MetersInOrder><Meter><SerialNo>{serial}</SerialNo><DEK>{'00' * 16}</DEK>"
    _refused(
        build_kem_document((inner + "</Meter></MetersInOrder>").encode(), PASSWORD), "8 digits"
    )


@pytest.mark.parametrize("key", ["00" * 15, "00" * 17, "zz" * 16])
def test_key_that_is_not_32_hex_digits_is_refused(key: str) -> None:
    inner = f"<MetersInOrder><Meter><SerialNo>12345678</SerialNo><DEK>{key}</DEK>"
    _refused(build_kem_document((inner + "</Meter></MetersInOrder>").encode(), PASSWORD), "32 hex")


def test_meter_listed_twice_with_different_keys_is_refused() -> None:
    meter = "<Meter><SerialNo>12345678</SerialNo><DEK>{}</DEK></Meter>"
    inner = f"<MetersInOrder>{meter.format('00' * 16)}{meter.format('11' * 16)}</MetersInOrder>"
    _refused(build_kem_document(inner.encode(), PASSWORD), "listed twice")


def test_meter_listed_twice_with_the_same_key_is_read_once() -> None:
    meter = "<Meter><SerialNo>12345678</SerialNo><DEK>{}</DEK></Meter>"
    inner = f"<MetersInOrder>{meter.format('11' * 16)}{meter.format('11' * 16)}</MetersInOrder>"
    assert parse_kem(build_kem_document(inner.encode(), PASSWORD), PASSWORD) == {
        "12345678": b"\x11" * 16
    }


def test_file_without_any_key_is_refused() -> None:
    inner = b"<Devices><Device><SerialNumber>12345678</SerialNumber></Device></Devices>"
    _refused(build_kem_document(inner, PASSWORD), "no meter keys")


def test_builder_refuses_bad_ids_and_keys() -> None:
    with pytest.raises(KemError, match="8 digits"):
        build_kem({"1234": bytes(16)}, PASSWORD)
    with pytest.raises(KemError, match="16 bytes"):
        build_kem({"12345678": bytes(15)}, PASSWORD)


# -- fuzz: only KemError escapes ------------------------------------------------------------


def _parses_or_refuses(data: bytes, password: str = PASSWORD) -> None:
    try:
        keys = parse_kem(data, password)
    except KemError:
        return
    assert keys
    for meter_id, key in keys.items():
        assert len(meter_id) == 8 and meter_id.isdigit()
        assert isinstance(key, bytes) and len(key) == 16


def _mutated(blob: bytes, data: st.DataObject) -> bytes:
    """One to four random edits of ``blob``: flip, overwrite, insert, delete or cut."""
    buffer = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 4))):
        if not buffer:
            break
        edit = data.draw(st.sampled_from(["flip", "set", "insert", "delete", "cut"]))
        at = data.draw(st.integers(0, len(buffer) - 1))
        if edit == "flip":
            buffer[at] ^= 1 << data.draw(st.integers(0, 7))
        elif edit == "set":
            buffer[at] = data.draw(st.sampled_from(b"<>/=\"'&!?0A \x00\xff"))
        elif edit == "insert":
            buffer[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        elif edit == "delete":
            del buffer[at : at + data.draw(st.integers(1, 16))]
        else:
            del buffer[at:]
    return bytes(buffer)


CORPUS = [
    build_kem(KEYS, PASSWORD),
    build_kem(KEYS, PASSWORD, schema="kem2"),
    build_kem(KEYS, PASSWORD, zipped=True),
    build_kem(KEYS, PASSWORD, schema="kem2", zipped=True),
]
INNER = [
    b"<MetersInOrder><Meter><SerialNo>12345678</SerialNo><DEK>" + b"AB" * 16 + b"</DEK></Meter>"
    b"</MetersInOrder>",
    b"<Devices><Device><SerialNumber>12345678</SerialNumber><K><Name>DEK</Name><Value>"
    + b"AB" * 16
    + b"</Value></K></Device></Devices>",
]
FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(data=st.binary(max_size=512), password=st.sampled_from([PASSWORD, "", "x" * 16]))
def test_fuzz_random_bytes_raise_only_kem_error(data: bytes, password: str) -> None:
    _parses_or_refuses(data, password)
    _parses_or_refuses(b"PK\x03\x04" + data, password)


@FUZZ
@given(seed=st.sampled_from(CORPUS), data=st.data())
def test_fuzz_mutated_files_raise_only_kem_error(seed: bytes, data: st.DataObject) -> None:
    _parses_or_refuses(_mutated(seed, data))


@FUZZ
@given(seed=st.sampled_from(CORPUS[:2]), data=st.data())
def test_fuzz_mutated_ciphertext_raises_only_kem_error(seed: bytes, data: st.DataObject) -> None:
    # Edits of the ciphertext itself, re-encoded: the decrypted content is then garbage
    # under the right password, which the byte-level mutations above rarely reach.
    mutated = _mutated(_ciphertext_of(seed), data)
    _parses_or_refuses(build_kem(ONE, PASSWORD).replace(
        base64.b64encode(_ciphertext_of(build_kem(ONE, PASSWORD))),
        base64.b64encode(mutated),
    ))  # fmt: skip


@FUZZ
@given(seed=st.sampled_from(INNER), data=st.data())
def test_fuzz_mutated_decrypted_content_raises_only_kem_error(
    seed: bytes, data: st.DataObject
) -> None:
    _parses_or_refuses(build_kem_document(_mutated(seed, data), PASSWORD))


@FUZZ
@given(content=st.binary(max_size=256))
def test_fuzz_random_decrypted_content_raises_only_kem_error(content: bytes) -> None:
    _parses_or_refuses(build_kem_document(content, PASSWORD))
