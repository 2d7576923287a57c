"""Building telegrams: the same layer definitions, run the other way.

The simulator, the demo and the round-trip tests make their telegrams here, so what they
send is real bytes that any wireless M-Bus reader would accept.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from protocols.crc import crc16_en13757
from protocols.errors import FormatError
from protocols.records import parse_records, split_headers
from protocols.telegram import MeterAddress
from protocols.wmbus import layers, security
from protocols.wmbus.address import id_to_bytes, manufacturer_field
from protocols.wmbus.compact import format_signature
from protocols.wmbus.decoder import (
    CI_AFL,
    CI_COMPACT,
    CI_TPL_LONG,
    CI_TPL_NONE,
    CI_TPL_SHORT,
)
from protocols.wmbus.link import FrameFormat, add_crcs


class Tpl(StrEnum):
    """Which transport-layer header the telegram carries."""

    NONE = "none"  # CI 0x78: records follow directly
    COMPACT = "compact"  # CI 0x79: format signature, data CRC, record data only
    SHORT = "short"  # CI 0x7A
    LONG = "long"  # CI 0x72


@dataclass(frozen=True, slots=True)
class EllSpec:
    """An extended link layer: CI 0x8D (with session number) or 0x8C (without)."""

    cc: int = 0x20
    access_number: int = 0
    session: int = 0  # SN bits 0-3
    time: int = 0  # SN bits 4-28
    encrypt: bool = True  # AES-128-CTR (SN bits 29-31 = 1); needs a key
    with_session: bool = True  # False: CI 0x8C/0x8E, no SN and no payload CRC
    destination: MeterAddress | None = None  # CI 0x8E/0x8F: addressed to this device


@dataclass(frozen=True, slots=True)
class TelegramSpec:
    """Everything that makes up one telegram; ``records`` is the plaintext record data."""

    meter: MeterAddress
    records: bytes
    c_field: int = 0x44
    tpl: Tpl = Tpl.SHORT
    access_number: int = 0
    status: int = 0
    security_mode: int = 0  # TPL security: 0, 5 or 7
    ell: EllSpec | None = None
    message_counter: int = 0  # mode 7: the AFL message counter
    mac_type: int = 5  # mode 7: AFL authentication type (5 = CMAC truncated to 8 bytes)
    tpl_meter: MeterAddress | None = None  # long TPL: the meter behind the sender


def address_bytes(address: MeterAddress) -> tuple[bytes, bytes]:
    """The M field (2 bytes) and A field (6 bytes) of an address."""
    m = manufacturer_field(address.manufacturer).to_bytes(2, "little")
    a = id_to_bytes(address.id) + bytes([address.version, address.device_type])
    return m, a


def build_telegram(
    spec: TelegramSpec, key: bytes | None = None, frame_format: FrameFormat = FrameFormat.NONE
) -> bytes:
    """The frame for ``spec``, encrypted with ``key`` where the spec asks for it."""
    m_field, a_field = address_bytes(spec.meter)
    needs_key = spec.security_mode or (
        spec.ell is not None and spec.ell.encrypt and spec.ell.with_session
    )
    if needs_key and (key is None or len(key) != 16):
        raise FormatError("an encrypted telegram needs a 16-byte key")
    upper = _transport(spec, key, m_field, a_field)
    if spec.ell is not None:
        upper = _ell(spec.ell, key, m_field, a_field, upper)
    frame = bytes([len(upper) + 9, spec.c_field]) + m_field + a_field + upper
    if len(frame) > 256:
        raise FormatError(f"telegram of {len(frame)} bytes does not fit an L field")
    return add_crcs(frame, frame_format)


def _transport(spec: TelegramSpec, key: bytes | None, m_field: bytes, a_field: bytes) -> bytes:
    """CI onwards: [AFL] TPL header and (encrypted) records."""
    if spec.tpl is Tpl.NONE:
        return bytes([CI_TPL_NONE]) + spec.records
    if spec.tpl is Tpl.COMPACT:
        headers, data = split_headers(spec.records)
        hdr = layers.CompactHeader.build(
            {
                "FormatSignature": format_signature(headers),
                "DataCRC": _full_records_crc(spec.records),
            }
        )
        return bytes([CI_COMPACT]) + hdr + data
    mode = spec.security_mode
    payload = spec.records
    blocks = 0
    if mode in (5, 7):
        payload = b"\x2f\x2f" + payload
        payload += b"\x2f" * (-len(payload) % 16)
        blocks = len(payload) // 16
        if blocks > 15:
            raise FormatError("more than 15 encrypted blocks do not fit the CF field")
    elif mode != 0:
        raise FormatError(f"security mode {mode} cannot be built")
    cf = (mode << 8) | (blocks << 4)
    if spec.tpl is Tpl.LONG:
        inner = spec.tpl_meter or spec.meter
        tm, ta = address_bytes(inner)
        header = bytes([CI_TPL_LONG]) + layers.TplLong.build(
            {
                "ID": ta[:4],
                "M": int.from_bytes(tm, "little"),
                "VER": ta[4],
                "DEV": ta[5],
                "ACC": spec.access_number,
                "ST": spec.status,
                "CF": cf,
            }
        )
        iv_m, iv_a = tm, ta
    else:
        header = bytes([CI_TPL_SHORT]) + layers.TplShort.build(
            {"ACC": spec.access_number, "ST": spec.status, "CF": cf}
        )
        iv_m, iv_a = m_field, a_field
    assert key is not None or mode == 0
    if mode == 5 and key is not None:
        iv = security.mode5_iv(iv_m, iv_a, spec.access_number)
        return header + security.cbc_encrypt(key, iv, payload)
    if mode == 7 and key is not None:
        return _mode7(spec, key, iv_a[:4], header, payload)
    return header + payload


def _full_records_crc(records: bytes) -> int:
    """The compact data CRC: over the full frame's records, headers included, no fillers."""
    return crc16_en13757(b"".join(r.header + r.data for r in parse_records(records)))


def _mode7(spec: TelegramSpec, key: bytes, id_bytes: bytes, header: bytes, payload: bytes) -> bytes:
    cfe = bytes([0x10])  # KDF 1, key id 0
    counter = spec.message_counter
    k_enc = security.mode7_key(key, security.KDF_ENC_FROM_METER, counter, id_bytes)
    k_mac = security.mode7_key(key, security.KDF_MAC_FROM_METER, counter, id_bytes)
    tpl = header + cfe + security.cbc_encrypt(k_enc, bytes(16), payload)
    mcl = spec.mac_type
    mac_len = layers.mac_length(mcl)
    mac = security.cmac(k_mac, bytes([mcl]) + counter.to_bytes(4, "little") + tpl)[:mac_len]
    fcl = {
        "reserved": False,
        "MF": False,
        "MCLP": True,
        "MLP": False,
        "MCRP": True,
        "MACP": True,
        "KIP": False,
        "reserved2": False,
        "FID": 0,
    }
    body = layers.AflHeader.build(
        {"AFLL": 0, "FCL": fcl, "MCL": mcl, "KI": None, "MCR": counter, "MAC": mac, "ML": None}
    )
    body = bytes([len(body) - 1]) + body[1:]
    return bytes([CI_AFL]) + body + tpl


def _ell(ell: EllSpec, key: bytes | None, m_field: bytes, a_field: bytes, upper: bytes) -> bytes:
    """Wrap ``upper`` (from its CI) in an ELL, encrypting it with AES-CTR if asked."""
    head = bytes([ell.cc, ell.access_number])
    if ell.destination is not None:
        m2, a2 = address_bytes(ell.destination)
        head += m2 + a2
    if not ell.with_session:
        return bytes([0x8C if ell.destination is None else 0x8E]) + head + upper
    sn = (ell.session & 0x0F) | ((ell.time & 0x1FFFFFF) << 4) | ((1 if ell.encrypt else 0) << 29)
    sn_bytes = layers.EllSession.build(
        {"CC": ell.cc, "ACC": ell.access_number, "SN": sn, "PayloadCRC": 0}
    )[2:6]
    body = crc16_en13757(upper).to_bytes(2, "little") + upper
    if ell.encrypt:
        assert key is not None
        iv = security.ell_iv(m_field, a_field, ell.cc, sn_bytes)
        body = security.ell_crypt(key, iv, body)
    return bytes([0x8D if ell.destination is None else 0x8F]) + head + sn_bytes + body
