"""Key files wrapped at rest (concentratord/keywrap.py): AES-GCM under a device key, the
device key read from a file or a systemd credential, and every failure a KeyWrapError."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from concentratord.keywrap import (
    HEADER_LEN,
    MAGIC,
    TAG_LEN,
    KeyWrapError,
    credential_path,
    is_wrapped,
    read_device_key,
    unwrap,
    wrap,
)

KEY_128 = bytes(range(16))
KEY_256 = bytes(range(32, 64))
KEYS_FILE = b"# tenant keys\n11223344 = 000102030405060708090A0B0C0D0E0F\n"


@pytest.mark.parametrize("key", [KEY_128, KEY_256], ids=["aes128", "aes256"])
def test_round_trip_gives_back_the_plaintext(key: bytes) -> None:
    blob = wrap(KEYS_FILE, key)
    assert unwrap(blob, key) == KEYS_FILE


def test_round_trip_of_an_empty_file() -> None:
    assert unwrap(wrap(b"", KEY_128), KEY_128) == b""


def test_blob_layout_is_magic_nonce_ciphertext_tag() -> None:
    blob = wrap(KEYS_FILE, KEY_128)
    assert blob.startswith(MAGIC)
    assert len(blob) == HEADER_LEN + len(KEYS_FILE) + TAG_LEN
    assert KEYS_FILE not in blob


def test_each_wrap_draws_a_fresh_nonce() -> None:
    assert wrap(KEYS_FILE, KEY_128) != wrap(KEYS_FILE, KEY_128)


def test_wrong_device_key_is_refused() -> None:
    blob = wrap(KEYS_FILE, KEY_128)
    with pytest.raises(KeyWrapError, match="wrong device key"):
        unwrap(blob, bytes(16))


def test_key_of_the_other_size_is_refused() -> None:
    blob = wrap(KEYS_FILE, KEY_256)
    with pytest.raises(KeyWrapError, match="wrong device key"):
        unwrap(blob, KEY_256[:16])


@pytest.mark.parametrize("position", [len(MAGIC), HEADER_LEN, -TAG_LEN, -1])
def test_flipped_byte_is_refused(position: int) -> None:
    blob = bytearray(wrap(KEYS_FILE, KEY_128))
    blob[position] ^= 0x01
    with pytest.raises(KeyWrapError, match="altered"):
        unwrap(bytes(blob), KEY_128)


def test_relabelled_magic_is_refused() -> None:
    blob = wrap(KEYS_FILE, KEY_128)
    with pytest.raises(KeyWrapError, match="not a wrapped file"):
        unwrap(b"CDKW2" + blob[len(MAGIC) :], KEY_128)


@pytest.mark.parametrize("length", [len(MAGIC), HEADER_LEN, HEADER_LEN + TAG_LEN - 1])
def test_truncated_blob_is_refused(length: int) -> None:
    blob = wrap(KEYS_FILE, KEY_128)
    with pytest.raises(KeyWrapError, match="truncated"):
        unwrap(blob[:length], KEY_128)


def test_truncated_ciphertext_is_refused() -> None:
    blob = wrap(KEYS_FILE, KEY_128)
    with pytest.raises(KeyWrapError, match="altered"):
        unwrap(blob[:-1], KEY_128)


def test_plaintext_file_is_not_wrapped() -> None:
    assert not is_wrapped(KEYS_FILE)
    assert not is_wrapped(b"")
    assert is_wrapped(wrap(KEYS_FILE, KEY_128))
    with pytest.raises(KeyWrapError, match="not a wrapped file"):
        unwrap(KEYS_FILE, KEY_128)


@pytest.mark.parametrize("size", [0, 15, 17, 24, 31, 33, 64])
def test_device_key_of_bad_size_is_refused(size: int) -> None:
    with pytest.raises(KeyWrapError, match="16 or 32 bytes"):
        wrap(KEYS_FILE, bytes(size))
    with pytest.raises(KeyWrapError, match="16 or 32 bytes"):
        unwrap(wrap(KEYS_FILE, KEY_128), bytes(size))


def test_device_key_of_wrong_type_is_refused() -> None:
    with pytest.raises(KeyWrapError, match="must be bytes"):
        wrap(KEYS_FILE, "0123456789abcdef")  # type: ignore[arg-type]


@pytest.mark.parametrize("key", [KEY_128, KEY_256, b" \n" * 8], ids=["16", "32", "blanks"])
def test_device_key_file_holding_raw_bytes(tmp_path: Path, key: bytes) -> None:
    path = tmp_path / "device.key"
    path.write_bytes(key)
    assert read_device_key(str(path)) == key


@pytest.mark.parametrize("key", [KEY_128, KEY_256], ids=["16", "32"])
def test_device_key_file_holding_hex(tmp_path: Path, key: bytes) -> None:
    path = tmp_path / "device.key"
    path.write_text(key.hex().upper() + "\n")
    assert read_device_key(str(path)) == key


def test_device_key_file_holding_hex_with_inner_whitespace(tmp_path: Path) -> None:
    path = tmp_path / "device.key"
    text = KEY_128.hex()
    path.write_text(f"  {text[:16]} {text[16:]}\r\n")
    assert read_device_key(str(path)) == KEY_128


@pytest.mark.parametrize(
    "content",
    [b"", b"00" * 15, b"00" * 17, b"zz" * 16 + b"\n", bytes(20), bytes(5000)],
    ids=["empty", "hex-15", "hex-17", "not-hex", "raw-20", "huge"],
)
def test_device_key_file_of_bad_size_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "device.key"
    path.write_bytes(content)
    with pytest.raises(KeyWrapError, match="not a device key") as caught:
        read_device_key(str(path))
    assert str(path) in str(caught.value)


def test_missing_device_key_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "absent.key"
    with pytest.raises(KeyWrapError, match="cannot read") as caught:
        read_device_key(str(path))
    assert str(path) in str(caught.value)


def test_directory_as_device_key_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyWrapError, match="cannot read"):
        read_device_key(str(tmp_path))


def test_credential_path_is_in_the_credentials_directory() -> None:
    environ = {"CREDENTIALS_DIRECTORY": "/run/credentials/concentratord.service"}
    assert (
        credential_path("device.key", environ)
        == "/run/credentials/concentratord.service/device.key"
    )


@pytest.mark.parametrize("environ", [{}, {"CREDENTIALS_DIRECTORY": ""}], ids=["unset", "empty"])
def test_credential_path_without_credentials_directory_asks_for_load_credential(
    environ: dict[str, str],
) -> None:
    with pytest.raises(KeyWrapError, match=r"CREDENTIALS_DIRECTORY is not set.*LoadCredential="):
        credential_path("device.key", environ)


@pytest.mark.parametrize("name", ["", "../device.key", "sub/device.key", "/abs", ".", "..", "a\0"])
def test_credential_name_that_is_not_a_plain_file_name_is_refused(name: str) -> None:
    with pytest.raises(KeyWrapError, match="plain file name"):
        credential_path(name, {"CREDENTIALS_DIRECTORY": "/run/credentials/x"})


def _mutated(blob: bytes, data: st.DataObject) -> bytes:
    """One random edit of ``blob``: flip, overwrite, insert, delete, truncate or extend."""
    edit = data.draw(st.sampled_from(["flip", "set", "insert", "delete", "cut", "extend"]))
    buffer = bytearray(blob)
    at = data.draw(st.integers(0, len(buffer) - 1))
    if edit == "flip":
        buffer[at] ^= 1 << data.draw(st.integers(0, 7))
    elif edit == "set":
        buffer[at] = data.draw(st.integers(0, 255))
    elif edit == "insert":
        buffer[at:at] = data.draw(st.binary(min_size=1, max_size=8))
    elif edit == "delete":
        del buffer[at : at + data.draw(st.integers(1, 8))]
    elif edit == "cut":
        del buffer[at:]
    else:
        buffer += data.draw(st.binary(min_size=1, max_size=8))
    return bytes(buffer)


FUZZ = settings(max_examples=2500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(
    blob=st.one_of(st.binary(max_size=128), st.binary(max_size=96).map(lambda b: MAGIC + b)),
    key=st.sampled_from([KEY_128, KEY_256]),
)
def test_fuzz_random_blobs_raise_only_key_wrap_error(blob: bytes, key: bytes) -> None:
    with pytest.raises(KeyWrapError):
        unwrap(blob, key)


@FUZZ
@given(
    plaintext=st.binary(max_size=64),
    key=st.sampled_from([KEY_128, KEY_256]),
    data=st.data(),
)
def test_fuzz_mutated_blobs_raise_only_key_wrap_error(
    plaintext: bytes, key: bytes, data: st.DataObject
) -> None:
    blob = wrap(plaintext, key)
    mutated = _mutated(blob, data)
    if mutated == blob:  # an insert and a delete can cancel out; nothing to refuse then
        assert unwrap(mutated, key) == plaintext
        return
    with pytest.raises(KeyWrapError):
        unwrap(mutated, key)
