"""Wrapping a key file at rest with a per-device key.

A keys file copied off a gateway (a backup, a stolen SD card) should be useless without the
device it came from. :func:`wrap` encrypts it with AES-GCM under a *device key* that lives
outside the file system image, typically handed to the service by systemd
(``LoadCredential=``, found through :func:`credential_path`, read by
:func:`read_device_key`); :func:`unwrap` reverses it and refuses anything it cannot
authenticate.

Blob format (all lengths in bytes)::

    b"CDKW1" (5) | nonce (12, random) | ciphertext (len(plaintext)) | GCM tag (16)

The magic is fed to GCM as associated data, so a blob cannot be relabelled (for instance
as a later format version) without the tag failing. AES-128 or AES-256 is chosen by the
device key's length (16 or 32 bytes).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from Crypto.Cipher import AES
from Crypto.Random import get_random_bytes

MAGIC = b"CDKW1"
NONCE_LEN = 12  # the GCM nonce size that needs no extra GHASH pass (NIST SP 800-38D)
TAG_LEN = 16  # full-length tag: the file is small, truncating the tag buys nothing
HEADER_LEN = len(MAGIC) + NONCE_LEN
KEY_SIZES = (16, 32)
# A device key file is 16/32 raw bytes or 64 hex characters plus a newline; anything far
# larger is not a key file, so reading stops here instead of slurping whatever the path is.
_MAX_KEY_FILE = 4096
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")


class KeyWrapError(Exception):
    """A blob could not be wrapped or unwrapped, or a device key could not be found or read.

    The message says why in words an operator can act on; no other exception type escapes
    the public functions of this module.
    """


def _check_key(device_key: bytes) -> None:
    # A bytes-like check as well as the length: a str key would otherwise surface as a
    # TypeError from inside pycryptodome.
    if not isinstance(device_key, bytes | bytearray | memoryview):
        raise KeyWrapError(f"device key must be bytes, not {type(device_key).__name__}")
    if len(device_key) not in KEY_SIZES:
        raise KeyWrapError(
            f"device key must be 16 or 32 bytes (AES-128 or AES-256), got {len(device_key)}"
        )


def is_wrapped(blob: bytes) -> bool:
    """Whether ``blob`` starts with the wrapped-file magic (says nothing of its integrity)."""
    return bytes(blob[: len(MAGIC)]) == MAGIC


def wrap(plaintext: bytes, device_key: bytes) -> bytes:
    """Encrypt ``plaintext`` under ``device_key`` (16 or 32 bytes) into a wrapped blob.

    A fresh random nonce is drawn for every call, so wrapping the same file twice gives two
    different blobs; GCM must never see a nonce twice under one key.
    """
    _check_key(device_key)
    if not isinstance(plaintext, bytes | bytearray | memoryview):
        raise KeyWrapError(f"plaintext must be bytes, not {type(plaintext).__name__}")
    nonce = get_random_bytes(NONCE_LEN)
    cipher = AES.new(bytes(device_key), AES.MODE_GCM, nonce=nonce, mac_len=TAG_LEN)
    cipher.update(MAGIC)
    ciphertext, tag = cipher.encrypt_and_digest(bytes(plaintext))
    return MAGIC + nonce + ciphertext + tag


def unwrap(blob: bytes, device_key: bytes) -> bytes:
    """The plaintext of a blob made by :func:`wrap` with the same ``device_key``.

    Raises :class:`KeyWrapError` (and nothing else) when the blob is not a wrapped file,
    is shorter than a header and tag, or does not authenticate: a wrong device key and a
    tampered blob are indistinguishable by design, so one message names both.
    """
    _check_key(device_key)
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise KeyWrapError(f"wrapped blob must be bytes, not {type(blob).__name__}")
    data = bytes(blob)
    if not is_wrapped(data):
        raise KeyWrapError("not a wrapped file (no CDKW1 header)")
    if len(data) < HEADER_LEN + TAG_LEN:
        raise KeyWrapError(
            f"wrapped file truncated: {len(data)} bytes, a header and tag alone take "
            f"{HEADER_LEN + TAG_LEN}"
        )
    nonce = data[len(MAGIC) : HEADER_LEN]
    ciphertext = data[HEADER_LEN:-TAG_LEN]
    tag = data[-TAG_LEN:]
    cipher = AES.new(bytes(device_key), AES.MODE_GCM, nonce=nonce, mac_len=TAG_LEN)
    cipher.update(MAGIC)
    try:
        return cipher.decrypt_and_verify(ciphertext, tag)
    except ValueError:
        # pycryptodome's only signal for a tag mismatch; the plaintext it would have
        # produced is never returned.
        raise KeyWrapError(
            "wrapped file does not authenticate: wrong device key, or the file was altered"
        ) from None


def read_device_key(path: str) -> bytes:
    """The device key stored at ``path``.

    The file holds either the raw key (exactly 16 or 32 bytes) or its hex form (32 or 64
    hex digits; whitespace anywhere, such as a trailing newline, is ignored). Raises
    :class:`KeyWrapError` naming ``path`` when the file cannot be read or holds neither.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_KEY_FILE + 1)
    except OSError as error:
        reason = error.strerror or str(error)
        raise KeyWrapError(f"{path}: cannot read the device key: {reason}") from None
    # Hex is tried first: a 32-byte file made only of hex digits is far more plausibly a
    # 16-byte key written as text than a random 32-byte key that happens to be all hex
    # digits (a chance of about (22/256)**32 for a random key).
    compact = b"".join(data.split())
    if len(compact) in (32, 64) and set(compact) <= _HEX_DIGITS:
        return bytes.fromhex(compact.decode("ascii"))
    # Raw keys are taken byte for byte: whitespace bytes are legitimate key material.
    if len(data) in KEY_SIZES:
        return data
    size = f"more than {_MAX_KEY_FILE}" if len(data) > _MAX_KEY_FILE else str(len(data))
    raise KeyWrapError(
        f"{path}: not a device key: expected 16 or 32 raw bytes or 32 or 64 hex digits, "
        f"found {size} bytes"
    )


def credential_path(name: str, environ: Mapping[str, str]) -> str:
    """Where systemd put the credential ``name`` (``LoadCredential=name:...`` in the unit).

    systemd exports the directory holding the service's credentials as
    ``$CREDENTIALS_DIRECTORY``; ``environ`` is passed in (normally ``os.environ``) so that
    callers and tests decide where it comes from. ``name`` must be a plain file name: a
    credential is never looked up outside that directory.
    """
    if not name or "/" in name or "\0" in name or name in (".", ".."):
        raise KeyWrapError(f"credential name {name!r} must be a plain file name")
    directory = environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        raise KeyWrapError(
            f"cannot find credential {name!r}: CREDENTIALS_DIRECTORY is not set: "
            "is LoadCredential= in the unit?"
        )
    return os.path.join(directory, name)
