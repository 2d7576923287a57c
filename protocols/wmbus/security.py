"""The ciphers of wireless M-Bus (pycryptodome underneath).

- ELL AES-128-CTR (EN 13757-4 clause 13.2.5; Kamstrup): IV = M | A | CC & ~0x12 | SN | FN (2
  bytes, 0) | BC (1 byte, 0), incremented as a big-endian counter per block.
- TPL security mode 5 (EN 13757-7 clause 9.4.2): AES-128-CBC, IV = M | A | ACC x 8.
- TPL security mode 7 (EN 13757-7 clause 9.4.4, OMS Vol. 2): AES-128-CBC with a zero IV and
  a key derived per message with AES-CMAC; the AFL carries the counter and a truncated CMAC.

Functions: keys and counters come in, bytes go out; what they keep is the expanded AES key
of recently used meter keys (:func:`meter_cipher`), which changes no result.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from Crypto.Cipher import AES, DES
from Crypto.Hash import CMAC

from protocols.errors import FormatError

# CC bits not part of the ELL IV: 0x10 (R, repeated) and 0x02 (reserved) [checked].
_ELL_CC_IV_MASK = 0xFF & ~0x12

# Mode 7 key derivation constants (EN 13757-7 table 17): meter -> gateway.
AES_KEY_BYTES = 16
DES_KEY_BYTES = 8  # TPL security mode 2 (deprecated)

KDF_ENC_FROM_METER = 0x00
KDF_MAC_FROM_METER = 0x01


def ell_iv(m_field: bytes, a_field: bytes, cc: int, sn: bytes) -> bytes:
    """The 16-byte initial counter block of ELL AES-CTR."""
    return m_field + a_field + bytes([cc & _ELL_CC_IV_MASK]) + sn + b"\x00\x00\x00"


# Meter keys whose AES key schedule is kept: a new cipher object costs about as much as
# the decryption itself. Bounded (each costs about 0.8 KB of memory, measured): past it the
# least recently used goes, and a 30,000-meter field costs one key expansion per telegram.
METER_CIPHERS = 4096
_COUNTER_MASK = (1 << 128) - 1


@lru_cache(maxsize=METER_CIPHERS)
def meter_cipher(key: bytes) -> Any:
    """The AES-128 block cipher (ECB) of a meter's key, cached.

    Only for the long-lived keys of meters: a key derived per message (mode 7) would push
    them out of the cache for nothing. The cache holds keys the decoder was given anyway;
    it never decides whether a key may be used. ``key`` must be ``bytes`` (hashable).
    """
    return AES.new(key, AES.MODE_ECB)


def _xor(data: bytes, stream: bytes) -> bytes:
    n = len(data)
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream[:n], "big")).to_bytes(n, "big")


def ell_crypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-128-CTR over ``data`` (the same operation encrypts and decrypts).

    The key stream is the block cipher over the counter blocks IV, IV + 1, ... (big-endian
    over all 16 bytes, EN 13757-4 clause 13.2.5), from the meter's cached cipher.
    """
    if not data:
        return b""
    counter = int.from_bytes(iv, "big")
    blocks = b"".join(
        ((counter + i) & _COUNTER_MASK).to_bytes(16, "big") for i in range((len(data) + 15) // 16)
    )
    return _xor(data, meter_cipher(bytes(key)).encrypt(blocks))


def mode5_iv(m_field: bytes, a_field: bytes, access_number: int) -> bytes:
    """The mode 5 IV: M (2) | A (6) | access number repeated 8 times."""
    return m_field + a_field + bytes([access_number]) * 8


def cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-128-CBC decryption of whole blocks, with a key used once (mode 7)."""
    if len(data) % 16:
        raise FormatError(f"encrypted part of {len(data)} bytes is not whole 16-byte blocks")
    return AES.new(key, AES.MODE_CBC, iv=iv).decrypt(data)


def mode5_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-128-CBC decryption of whole blocks with a meter's key (mode 5), whose cipher is
    cached: each plaintext block is D(C[i]) XOR C[i-1], with C[-1] = IV."""
    if len(data) % 16:
        raise FormatError(f"encrypted part of {len(data)} bytes is not whole 16-byte blocks")
    if not data:
        return b""
    return _xor(meter_cipher(bytes(key)).decrypt(data), iv + data[:-16])


def cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-128-CBC encryption of whole blocks (the builder pads with 0x2F first)."""
    return AES.new(key, AES.MODE_CBC, iv=iv).encrypt(data)


def mode7_key(key: bytes, constant: int, counter: int, id_bytes: bytes) -> bytes:
    """A mode 7 message key: CMAC(K, DC | MCR (4, LE) | ID (4, LSB first) | 0x07 x 7)."""
    message = bytes([constant]) + counter.to_bytes(4, "little") + id_bytes + b"\x07" * 7
    return cmac(key, message)


def cmac(key: bytes, message: bytes) -> bytes:
    """Full 16-byte AES-CMAC."""
    mac = CMAC.new(key, ciphermod=AES)
    mac.update(message)
    return mac.digest()


def mode2_decrypt(key: bytes, data: bytes) -> bytes:
    """TPL security mode 2 (EN 13757-7, deprecated): DES-CBC with an all-zero IV, checked
    against a public vector whose plaintext then starts 2F 2F."""
    if len(data) % 8:
        raise FormatError("mode 2 data is not a whole number of DES blocks")
    return bytes(DES.new(key, DES.MODE_CBC, iv=bytes(8)).decrypt(data))


def mode2_encrypt(key: bytes, data: bytes) -> bytes:
    """The inverse of :func:`mode2_decrypt` (for the builder and tests)."""
    if len(data) % 8:
        raise FormatError("mode 2 data is not a whole number of DES blocks")
    return bytes(DES.new(key, DES.MODE_CBC, iv=bytes(8)).encrypt(data))
