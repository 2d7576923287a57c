"""Apator water and gas meters with manufacturer-specific payloads.

Drivers ``apator162``, ``apatorna1``, ``apator08`` and ``apator172``. Facts (triples, field
names, layouts, scaling, status bit meanings) as documented by wmbusmeters' driver
definitions drivers/src/apator162.xmq, apatorna1.xmq, apator08.xmq and apator172.xmq (and
src/driver_apatorna1.cc), checked against the telegrams of our test vectors.

apator162 (CI 0x7A, the records are one manufacturer block ``0F``): after the DIF, seven
status bytes, then tagged registers, each a tag byte followed by a value whose size the tag
alone determines (table :data:`_A162_SIZES`), then optional ``FF`` padding and a two-byte
checksum. Register ``0x10`` is the total volume in litres, 4 bytes little-endian.

apatorna1 (CI 0xA0/0xA1): access number, frame status (clear), then 16 bytes AES-128-CBC
encrypted with the mode 5 IV (M, A, access number x 8) and the all-zero key these meters
ship with. In the plaintext, offsets:

======  ====  ==============================================================
offset  size  what
======  ====  ==============================================================
1       4     packed total: bits 0-3 and 8-31 the count, bits 4-5 a decimal
              exponent of the litre step
5       4     meter time, seconds since 2000-01-01 00:00
9       1     age of the historic reading, low 8 bits (hours)
10      1     bits 2-7: age, high bits; bits 0-1: volume difference, low bits
11      3     volume difference total - historic, bits 2-25 (little-endian)
14      1     current status flags
15      1     historic status flags
======  ====  ==============================================================

apator08 and apator172 (CI 0xA0): the first 4 bytes of the manufacturer data are a counter
(little-endian) in thirds of a litre (apator08) or of 0.1 m3 per 3000 counts (apator172,
printed to 0.1 m3).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from protocols.errors import FormatError
from protocols.meters.base import Fields, FieldValue, MeterDriver
from protocols.meters.lookup import BitLookup
from protocols.meters.mfct import ExtendedDriver, need, uint_le
from protocols.telegram import Telegram
from protocols.wmbus import security
from protocols.wmbus.address import id_to_bytes, manufacturer_field

# ---------------------------------------------------------------------------- apator162

_A162_MVT = (("APA", 0x05, 0x06), ("APA", 0x05, 0x07))
_A162_FIRST = (0x0F, 0x80)  # the block starts with DIF 0x0F (older meters send 0x80)
_A162_STATUS_SIZE = 7
_A162_TOTAL = 0x10
_A162_PAD = 0xFF
_A162_CHECKSUM = 2
_FILLER = 0x2F


def _a162_sizes() -> dict[int, int]:
    """Register tag -> size of its value in bytes (after the tag)."""
    sizes = {0x00: 4, 0x01: 3, 0x10: 4, 0x11: 2, 0x40: 6, 0x41: 2, 0x42: 4, 0x43: 2, 0x44: 3}
    # 0x71 .. 0x7C: a byte, then (tag - 0x70 + 1) four-byte history values
    sizes.update({tag: 1 + 4 * (tag - 0x70 + 1) for tag in range(0x71, 0x7D)})
    sizes.update(dict.fromkeys((0x80, 0x81, 0x82, 0x83, 0x84, 0x86, 0x87), 10))
    sizes.update(dict.fromkeys((0x85, 0x88, 0x8F), 11))
    sizes.update({0x8A: 9, 0x8B: 6, 0x8C: 6, 0x8E: 7})
    sizes.update({0xA0: 4, 0xA1: 4, 0xA2: 1, 0xA3: 7, 0xA4: 4, 0xA5: 1, 0xA6: 3, 0xA9: 1})
    sizes.update({0xAF: 1})
    sizes.update(dict.fromkeys((0xA7, 0xA8, 0xAA, 0xAB, 0xAC, 0xAD), 2))
    sizes.update({0xB0: 5, 0xB1: 8, 0xB2: 16, 0xB3: 8, 0xB4: 2, 0xB5: 16})
    sizes.update(dict.fromkeys(range(0xB6, 0xC0), 3))
    sizes.update(dict.fromkeys(range(0xC0, 0xC8), 3))
    sizes.update({0xD0: 3, 0xD3: 3, 0xF0: 4})
    return sizes


_A162_SIZES = _a162_sizes()


def apator162_registers(block: bytes) -> dict[int, bytes]:
    """The registers of an apator162 block (the bytes after its first byte), by tag.

    Raises :class:`FormatError` on a tag of unknown size (where the next one starts is then
    unknown) and :class:`~protocols.errors.TruncatedError` when a value is cut short.
    """
    end = len(block) - _A162_CHECKSUM
    pos = _A162_STATUS_SIZE
    need(block, pos + _A162_CHECKSUM, "apator162 status")
    registers: dict[int, bytes] = {}
    while pos < end and block[pos] != _A162_PAD:
        tag = block[pos]
        size = _A162_SIZES.get(tag)
        if size is None:
            raise FormatError(f"apator162: register tag {tag:02X} of unknown size")
        need(block, pos + 1 + size + _A162_CHECKSUM, f"apator162 register {tag:02X}")
        registers.setdefault(tag, block[pos + 1 : pos + 1 + size])
        pos += 1 + size
    return registers


class Apator162(ExtendedDriver):
    """``apator162``: the total volume from the proprietary register block."""

    def __init__(self) -> None:
        super().__init__("apator162", _A162_MVT)

    def extra(self, telegram: Telegram, generic: Fields) -> Fields:
        """The total (register 0x10) of the manufacturer block."""
        payload = telegram.payload.lstrip(bytes([_FILLER]))
        if not payload or payload[0] not in _A162_FIRST:
            return {}
        total = apator162_registers(payload[1:]).get(_A162_TOTAL)
        if total is None:
            return {}
        return {"total_m3": int.from_bytes(total, "little") / 1000}


# ---------------------------------------------------------------------------- apatorna1

_NA1_MVT = (("APA", 0x14, 0x07),)
_NA1_KEY = bytes(16)  # the meters' factory key
_NA1_CLEAR = 2  # access number and frame status precede the encrypted block
_NA1_BLOCK = 16
_EPOCH = datetime(2000, 1, 1)

_FRAME_STATUS = BitLookup(
    "FRAME_STATUS",
    {
        0x01: "SUMMER_TIME",
        0x02: "HISTORICAL_INDICATION",
        0x04: "MAX_SPEED_EXCEEDED",
        0x08: "DEVICE_ACCESS_ERROR",
        0x10: "TWO_WAY_COM_BLOCK",
        0x20: "INSTALL_FRAME",
        0x40: "WRONG_TEMPERATURE",
        0x80: "SERVICE_EVENT",
    },
    mask=0xFF,
    default="OK",
)
_ALARMS = {
    0x80: "MINIMUM_FLOW",
    0x40: "MAXIMUM_FLOW",
    0x20: "REVERSE_FLOW",
    0x10: "MEASUREMENT_UNCHANGED",
    0x08: "LEAK",
    0x04: "DEVICE_DISCONNECTED",
    0x02: "MAGNETIC_FIELD",
}
_CURRENT_STATUS = BitLookup(
    "CURRENT_STATUS", {**_ALARMS, 0x01: "BATTERY_LOW"}, mask=0xFF, default="OK"
)
_HISTORIC_STATUS = BitLookup(
    "HISTORIC_STATUS",
    {**_ALARMS, 0x01: "BATTERY_LIFETIME_THRESHOLD_EXCEEDED"},
    mask=0xFF,
    default="OK",
)


def _minutes(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def apatorna1_plain(telegram: Telegram, data: bytes) -> bytes:
    """The decrypted 16-byte block of an apatorna1 telegram's manufacturer data."""
    need(data, _NA1_CLEAR + _NA1_BLOCK, "apatorna1 data")
    meter = telegram.link
    m_field = manufacturer_field(meter.manufacturer).to_bytes(2, "little")
    a_field = id_to_bytes(meter.id) + bytes([meter.version, meter.device_type])
    iv = security.mode5_iv(m_field, a_field, data[0])
    return security.mode5_decrypt(_NA1_KEY, iv, data[_NA1_CLEAR : _NA1_CLEAR + _NA1_BLOCK])


class ApatorNa1(ExtendedDriver):
    """``apatorna1``: total, historic reading, meter time and status flags."""

    def __init__(self) -> None:
        super().__init__("apatorna1", _NA1_MVT)

    def extra(self, telegram: Telegram, generic: Fields) -> Fields:
        """Decrypt and decode the manufacturer block."""
        data = telegram.manufacturer_data
        if data is None:
            return {}
        plain = apatorna1_plain(telegram, data)
        packed = uint_le(plain, 1, 4, "apatorna1 total")
        step = 10 ** ((packed >> 4) & 0x03)  # litres per count
        total = ((packed >> 8) << 4 | (packed & 0x0F)) * step
        meter_time = _EPOCH + timedelta(seconds=uint_le(plain, 5, 4, "apatorna1 time"))
        meta = plain[10]
        age_h = (meta >> 2) << 8 | plain[9]
        difference = (uint_le(plain, 11, 3, "apatorna1 history") << 2 | (meta & 0x03)) * step
        out: dict[str, FieldValue] = {
            "total_m3": total / 1000,
            "meter_datetime": _minutes(meter_time),
            "historic_m3": round((total - difference) / 1000, 3),
            "historic_datetime": _minutes(meter_time - timedelta(hours=age_h)),
            "historic_age_h": age_h,
            "frame_status": _FRAME_STATUS(data[1]),
            "current_status": _CURRENT_STATUS(plain[14]),
            "historic_status": _HISTORIC_STATUS(plain[15]),
        }
        return out


# ---------------------------------------------------------------------- apator08 / 172


def _counter(telegram: Telegram, what: str) -> int | None:
    data = telegram.manufacturer_data
    if data is None:
        return None
    return uint_le(data, 0, 4, what)


class Apator08(ExtendedDriver):
    """``apator08``: the total volume, a counter of thirds of a litre."""

    def __init__(self) -> None:
        super().__init__("apator08", (("APT", 0x03, 0x03), ("APT", 0x0F, 0x0F)))

    def extra(self, telegram: Telegram, generic: Fields) -> Fields:
        """The counter scaled to m3."""
        count = _counter(telegram, "apator08 counter")
        return {} if count is None else {"total_m3": round(count / 3000, 6)}


class Apator172(ExtendedDriver):
    """``apator172``: the total volume, 3000 counts per 0.1 m3 printed to 0.1 m3."""

    def __init__(self) -> None:
        super().__init__("apator172", (("APT", 0x04, 0x11),))

    def extra(self, telegram: Telegram, generic: Fields) -> Fields:
        """The counter scaled to m3; the device type is unassigned, the meter is water."""
        count = _counter(telegram, "apator172 counter")
        if count is None:
            return {}
        return {"media": "water", "total_m3": round(count * 10 / 3) / 10}


DRIVERS: tuple[MeterDriver, ...] = (Apator162(), ApatorNa1(), Apator08(), Apator172())
