"""The ciphers of wireless M-Bus (pycryptodome underneath).

- ELL AES-128-CTR (EN 13757-4 clause 13.2.5; Kamstrup): IV = M | A | CC & ~0x12 | SN | FN (2
  bytes, 0) | BC (1 byte, 0), incremented as a big-endian counter per block.
- TPL security mode 5 (EN 13757-7 clause 9.4.2): AES-128-CBC, IV = M | A | ACC x 8.
- TPL security mode 7 (EN 13757-7 clause 9.4.4, OMS Vol. 2): AES-128-CBC with a zero IV and
  a key derived per message with AES-CMAC; the AFL carries the counter and a truncated CMAC.

Pure functions: keys and counters come in, bytes go out.
"""

from __future__ import annotations

from Crypto.Cipher import AES
from Crypto.Hash import CMAC

from protocols.errors import FormatError

# CC bits not part of the ELL IV: 0x10 (R, repeated) and 0x02 (reserved) [checked].
_ELL_CC_IV_MASK = 0xFF & ~0x12

# Mode 7 key derivation constants (EN 13757-7 table 17): meter -> gateway.
KDF_ENC_FROM_METER = 0x00
KDF_MAC_FROM_METER = 0x01


def ell_iv(m_field: bytes, a_field: bytes, cc: int, sn: bytes) -> bytes:
    """The 16-byte initial counter block of ELL AES-CTR."""
    return m_field + a_field + bytes([cc & _ELL_CC_IV_MASK]) + sn + b"\x00\x00\x00"


def ell_crypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-128-CTR over ``data`` (the same operation encrypts and decrypts)."""
    cipher = AES.new(key, AES.MODE_CTR, nonce=b"", initial_value=iv)
    return cipher.encrypt(data)


def mode5_iv(m_field: bytes, a_field: bytes, access_number: int) -> bytes:
    """The mode 5 IV: M (2) | A (6) | access number repeated 8 times."""
    return m_field + a_field + bytes([access_number]) * 8


def cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-128-CBC decryption of whole blocks."""
    if len(data) % 16:
        raise FormatError(f"encrypted part of {len(data)} bytes is not whole 16-byte blocks")
    return AES.new(key, AES.MODE_CBC, iv=iv).decrypt(data)


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
