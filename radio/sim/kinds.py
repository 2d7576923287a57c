"""The kinds of simulated meter: what records they send, how alarms set their status bits,
what a decoder must read back (ground truth), and how their frames are built.

Each kind's records follow a layout its driver declares for compact frames
(``protocols.meters.*.COMPACT_LAYOUTS``), so compact frames decode without a full frame
seen first. A telegram's values travel as a tuple of *raw* record values (what goes on the
wire before scaling; dates as ``YYYY-MM-DD``) in record order; the truth dict and the frame
are both derived from that tuple.

Frames of the Kamstrup kinds (ELL AES-128-CTR, CI 0x78 / 0x79) are made by a per-meter
template (:class:`EllTemplate`) because a 30,000-meter field sends over a million telegrams
an hour; :func:`reference_spec` gives the same telegram as a
:class:`~protocols.wmbus.build.TelegramSpec`, and the tests check that
``build_telegram(reference_spec(...))`` is byte for byte what the template made. OMS kinds
(TPL security mode 5, a telegram every 15 minutes) are built by ``build_telegram`` directly.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from functools import lru_cache

from Crypto.Cipher import AES

from protocols.crc import crc16_en13757
from protocols.records import encode_records, split_headers
from protocols.records.build import RawValue
from protocols.records.values import encode_date_time
from protocols.telegram import MeterAddress
from protocols.wmbus.build import EllSpec, TelegramSpec, Tpl, address_bytes, build_telegram
from radio.frame import LinkMode

Raw = tuple[RawValue, ...]
Truth = dict[str, float | int | str]

ELL_CC = 0x20
_CC_IV = bytes([ELL_CC & ~0x12 & 0xFF])
_ENCRYPTED = 1 << 29  # SN bits 29-31 = 1: AES-128-CTR
_DATE = "D"  # record code for a type G date (2 bytes; the raw value is "YYYY-MM-DD")


@dataclass(frozen=True, slots=True)
class RecordDef:
    """One data record: its DIF/VIF header, struct code of its data, and truth name.

    ``den`` turns the raw integer into the canonical unit the decoder reports (raw / den);
    ``den == 0`` means the value is reported as sent (no scaling at all).
    """

    header: str
    code: str
    name: str | None
    den: int = 1


@dataclass(frozen=True, slots=True)
class Kind:
    """A family of simulated meters. See the module docstring."""

    name: str
    manufacturer: str
    version: int
    device_type: int
    link_mode: LinkMode
    records: tuple[RecordDef, ...]
    status_index: int | None  # which raw value carries the status bits (None: no status)
    alarms: dict[str, int]  # alarm name -> bits in the status record
    flag_names: dict[int, str]  # bit -> name as the driver prints it
    ell: bool = True  # Kamstrup ELL AES-CTR with compact frames; else OMS mode 5 full frames
    data_struct: struct.Struct = field(init=False)
    headers: tuple[bytes, ...] = field(init=False)
    signature: int = field(init=False)
    sizes: tuple[int, ...] = field(init=False)
    has_dates: bool = field(init=False)

    def __post_init__(self) -> None:
        codes = "".join("2s" if r.code == _DATE else r.code for r in self.records)
        object.__setattr__(self, "data_struct", struct.Struct("<" + codes))
        headers = tuple(bytes.fromhex(r.header) for r in self.records)
        object.__setattr__(self, "headers", headers)
        object.__setattr__(self, "signature", crc16_en13757(b"".join(headers)))
        sizes = tuple(2 if r.code == _DATE else struct.calcsize(r.code) for r in self.records)
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "has_dates", any(r.code == _DATE for r in self.records))

    def address(self, meter_id: str) -> MeterAddress:
        """The address of this kind's meter with id ``meter_id``."""
        return MeterAddress(self.manufacturer, meter_id, self.version, self.device_type)

    def status_text(self, bits: int) -> str:
        """``status`` as the driver prints it for these status bits."""
        names = sorted({n for b, n in self.flag_names.items() if bits & b})
        return " ".join(names) if names else "OK"

    def records_bytes(self, raw: Raw) -> bytes:
        """The full frame's record data (headers and values), via the protocols builder."""
        return encode_records(zip(self.headers, raw, strict=True))

    def truth(self, raw: Raw) -> Truth:
        """The decoded fields a reader must get from a telegram carrying ``raw``."""
        out: Truth = {}
        for rec, value in zip(self.records, raw, strict=True):
            if rec.name is None or value is None or isinstance(value, bytes):
                continue
            # Decoders print six decimals (protocols.meters.specdriver).
            if rec.den > 1 and not isinstance(value, str):
                value = round(value / rec.den, 6)
            out[rec.name] = value
        if self.status_index is not None:
            status = raw[self.status_index]
            assert isinstance(status, int)
            out.update(_STATUS_TRUTH[self.name](self, status))
        return out


def _water_status(kind: Kind, bits: int) -> Truth:
    out: Truth = {"status": kind.status_text(bits & 0x0F)}
    # The deprecated field lists the flags in bit order, not sorted.
    out["current_status"] = " ".join(n for b, n in kind.flag_names.items() if bits & b)
    for name, shift in WATER_DURATION_SHIFT.items():
        code = (bits >> shift) & 0x07
        out[f"time_{name}"] = DURATION_TEXT[code]
    return out


def _oms_status(kind: Kind, bits: int) -> Truth:
    # The generic driver: TPL status 0x03 reads ALARM, the error flags record its hex.
    if not bits:
        return {"status": "OK", "error_flags": "OK"}
    flags = f"ERROR_FLAGS_{bits:X}"
    return {"status": f"ALARM {flags}", "error_flags": flags}


def _plain_status(kind: Kind, bits: int) -> Truth:
    return {"status": kind.status_text(bits)}


_STATUS_TRUTH = {
    "water": _water_status,
    "heat": _plain_status,
    "pressure": _plain_status,
    "oms_water": _oms_status,
}

# Kamstrup water info codes (02FF20): alarm bits, and a 3-bit duration code per alarm.
WATER_DURATION_SHIFT = {"dry": 4, "reversed": 7, "leaking": 10, "bursting": 13}
WATER_DURATION_OF = {"dry": "dry", "reverse": "reversed", "leak": "leaking", "burst": "bursting"}
DURATION_TEXT = (
    "",
    "1-8 hours",
    "9-24 hours",
    "2-3 days",
    "4-7 days",
    "8-14 days",
    "15-21 days",
    "22-31 days",
)
_DURATION_LIMITS_H = (8, 24, 72, 168, 336, 504)


def duration_code(hours: float) -> int:
    """The info-code duration code (1-7) for an alarm active for ``hours``."""
    for code, limit in enumerate(_DURATION_LIMITS_H, start=1):
        if hours <= limit:
            return code
    return 7


WATER = Kind(
    "water",
    "KAM",
    0x1B,
    0x16,
    LinkMode.C1,
    (
        RecordDef("02FF20", "H", None),
        RecordDef("0413", "I", "total_m3", 1000),
        RecordDef("4413", "I", "target_m3", 1000),
        RecordDef("615B", "b", "flow_temperature_c"),
        RecordDef("6167", "b", "min_external_temperature_last_month_c"),
    ),
    0,
    {"dry": 0x01, "reverse": 0x02, "leak": 0x04, "burst": 0x08},
    {0x01: "DRY", 0x02: "REVERSE", 0x04: "LEAK", 0x08: "BURST"},
)

HEAT = Kind(
    "heat",
    "KAM",
    0x30,
    0x04,
    LinkMode.C1,
    (
        RecordDef("0406", "I", "total_energy_consumption_kwh"),
        RecordDef("04FF07", "I", "forward_energy_m3c"),
        RecordDef("04FF08", "I", "return_energy_m3c"),
        RecordDef("0414", "I", "total_volume_m3", 100),
        RecordDef("043B", "i", "volume_flow_m3h", 1000),
        RecordDef("0259", "h", "t1_temperature_c", 100),
        RecordDef("025D", "h", "t2_temperature_c", 100),
        RecordDef("04FF22", "I", None),
        RecordDef("026C", _DATE, "meter_date"),
        RecordDef("4406", "I", "target_energy_kwh"),
        RecordDef("4414", "I", "target_volume_m3", 100),
        RecordDef("426C", _DATE, "target_date"),
    ),
    7,
    {"dry": 0x100, "reverse": 0x200, "burst": 0x10000000, "leak": 0x40000000},
    {
        0x100: "FLOW_SENSOR_WEAK_OR_AIR",
        0x200: "WRONG_FLOW_DIRECTION",
        0x10000000: "V1_V2_BURST_WATER_LOSS",
        0x40000000: "V1_V2_LEAKAGE_WATER_LOSS",
    },
)

PRESSURE = Kind(
    "pressure",
    "KAM",
    0x01,
    0x18,
    LinkMode.C1,
    (
        RecordDef("2269", "h", "min_pressure_bar", 100),
        RecordDef("1269", "h", "max_pressure_bar", 100),
        RecordDef("0269", "h", "pressure_bar", 100),
        RecordDef("05FF09", "f", "alfa_counter"),
        RecordDef("05FF0A", "f", "beta_counter"),
        RecordDef("02FD17", "H", None),
    ),
    5,
    {"pressure_drop": 0x01},
    {0x01: "DROP", 0x02: "SURGE", 0x04: "HIGH", 0x08: "LOW"},
)

ELECTRICITY = Kind(
    "electricity",
    "KAM",
    0x30,
    0x02,
    LinkMode.C1,
    (
        RecordDef("0404", "I", "total_energy_consumption_kwh", 100),
        RecordDef("04843C", "I", "total_energy_production_kwh", 100),
        RecordDef("042B", "i", "current_power_consumption_kw", 1000),
        RecordDef("04AB3C", "i", "current_power_production_kw", 1000),
    ),
    None,  # OMNIPOWER sends no status record
    {},
    {},
)

OMS_WATER = Kind(
    "oms_water",
    "DEM",
    0x01,
    0x07,
    LinkMode.T1,
    (
        RecordDef("0C13", "I", "total_m3", 1000),  # BCD on the wire; built by the builder
        RecordDef("4C13", "I", "target_m3", 1000),
        RecordDef("426C", _DATE, "target_date"),
        RecordDef("02FD17", "H", None),
    ),
    3,
    {"dry": 0x01, "reverse": 0x02, "leak": 0x04, "burst": 0x08, "tamper": 0x10},
    {},
    ell=False,
)

KINDS: dict[str, Kind] = {k.name: k for k in (WATER, HEAT, PRESSURE, ELECTRICITY, OMS_WATER)}


@lru_cache(maxsize=4096)
def _date_bytes(text: str) -> bytes:
    return encode_date_time(text)


class EllTemplate:
    """The constant parts of one Kamstrup meter's ELL frames, and its AES block cipher."""

    __slots__ = ("_cipher", "_head", "_iv", "_kind")

    def __init__(self, kind: Kind, address: MeterAddress, key: bytes) -> None:
        m_field, a_field = address_bytes(address)
        self._kind = kind
        self._head = b"\x44" + m_field + a_field  # C M A: L goes in front once it is known
        self._iv = m_field + a_field + _CC_IV
        # ECB on counter blocks is AES-CTR; one cipher object per meter is much cheaper
        # than a new CTR object per telegram.
        self._cipher = AES.new(key, AES.MODE_ECB)

    def frame(self, raw: Raw, full: bool, count: int) -> bytes:
        """The frame (L C M A CI ..., no link-layer CRCs) of telegram number ``count``."""
        kind = self._kind
        if kind.has_dates:
            raw = tuple(_date_bytes(v) if isinstance(v, str) else v for v in raw)
        data = kind.data_struct.pack(*raw)
        records = bytearray()
        pos = 0
        for header, size in zip(kind.headers, kind.sizes, strict=True):
            records += header + data[pos : pos + size]
            pos += size
        if full:
            upper = b"\x78" + records
        else:
            crc = crc16_en13757(records)
            upper = (
                b"\x79" + kind.signature.to_bytes(2, "little") + crc.to_bytes(2, "little") + data
            )
        body = crc16_en13757(upper).to_bytes(2, "little") + upper
        sn = (((count & 0x1FFFFFF) << 4) | _ENCRYPTED).to_bytes(4, "little")
        prefix = self._iv + sn + b"\x00\x00"
        blocks = b"".join(prefix + bytes([i]) for i in range((len(body) + 15) // 16))
        stream = self._cipher.encrypt(blocks)
        n = len(body)
        enc = (int.from_bytes(body, "big") ^ int.from_bytes(stream[:n], "big")).to_bytes(n, "big")
        ell = bytes([0x8D, ELL_CC, count & 0xFF]) + sn + enc
        return bytes([len(ell) + 9]) + self._head + ell


def reference_spec(
    kind: Kind, address: MeterAddress, raw: Raw, full: bool, count: int
) -> TelegramSpec:
    """The telegram as a :class:`TelegramSpec` for ``protocols.wmbus.build.build_telegram``."""
    records = kind.records_bytes(raw)
    if kind.ell:
        ell = EllSpec(cc=ELL_CC, access_number=count & 0xFF, time=count & 0x1FFFFFF)
        return TelegramSpec(address, records, tpl=Tpl.NONE if full else Tpl.COMPACT, ell=ell)
    status = raw[kind.status_index] if kind.status_index is not None else 0
    return TelegramSpec(
        address,
        records,
        tpl=Tpl.SHORT,
        access_number=count & 0xFF,
        status=0x03 if status else 0x00,  # application status "abnormal situation"
        security_mode=5,
    )


def oms_frame(kind: Kind, address: MeterAddress, key: bytes, raw: Raw, count: int) -> bytes:
    """An OMS meter's telegram (TPL short header, security mode 5), by the builder."""
    return build_telegram(reference_spec(kind, address, raw, True, count), key)


def layout_hex(kind: Kind) -> str:
    """The DIF/VIF layout of a kind's records, as drivers declare compact layouts."""
    headers, _ = split_headers(kind.records_bytes(SAMPLE_RAW[kind.name]))
    return headers.hex().upper()


SAMPLE_RAW: dict[str, Raw] = {
    "water": (0, 123456, 120000, 9, 14),
    "heat": (4400, 1000, 800, 9960, 120, 7000, 4500, 0, "2026-01-01", 4000, 9000, "2026-01-01"),
    "pressure": (350, 420, 400, 1.0, 0.0, 0),
    "electricity": (123456, 0, 400, 0),
    "oms_water": (123456, 120000, "2026-01-01", 0),
}
