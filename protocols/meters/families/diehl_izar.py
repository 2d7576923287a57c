"""Diehl / Sappel IZAR water meters in PRIOS mode (driver ``izarv2``).

Facts as documented by wmbusmeters (drivers/src/izarv2.xmq, src/driver_izar.cc and
src/manufacturer_specificities.cc):

- PRIOS telegrams (CI 0xA0-0xA7 from Diehl's manufacturer codes) send the A field as
  version, device type, then the four id bytes: the meter is (DME, 0x78, 0x07) with id
  20481979 where a standard reading says version 0x48, type 0x20.
- The data after the CI field: three alarm / configuration bytes (a, b, c), one byte,
  then bytes obfuscated with a 32-bit LFSR. The LFSR starts from the XOR of a key's two
  big-endian halves, XORed with bytes 2-5, 6-9 and 10-13 of the frame (M and A fields as
  received, CI and a, b, c), each read big-endian. Per data byte it is clocked 8 times
  (new bit = bits 1 ^ 2 ^ 11 ^ 31) and its low byte XORed in. A right key gives 0x4B
  first; without a user key the two published default keys are tried.
- Clear data: 0x4B, total volume (4 bytes LE, litres), optionally the volume at the last
  billing date (4 bytes LE, litres) and that date (day in bits 0-4 and year bits 0-2 in
  bits 5-7 of the first byte, month in bits 0-3 and year bits 3-6 in bits 4-7 of the
  second).
- a: transmit period 2^(a & 0x0F) * 4 s; b: battery years * 2 in bits 0-4; the alarm
  flags below in the 24-bit word a | b << 8 | c << 16.
"""

from __future__ import annotations

from protocols.meters.base import Fields, MeterDriver
from protocols.meters.mfct import ExtendedDriver, iso_date, need, uint_le
from protocols.telegram import Telegram
from protocols.wmbus.address import id_to_bytes, manufacturer_field

# The published PRIOS default keys (8 bytes each).
DEFAULT_KEYS = (bytes.fromhex("39BC8A10E66D83F8"), bytes.fromhex("51728910E66D83F8"))
_CHECK = 0x4B
_PRIOS_CI = range(0xA0, 0xA8)

_ALARMS = {
    0x008000: "LEAKAGE",
    0x004000: "PREV_LEAKAGE",
    0x002000: "METER_BLOCKED",
    0x800000: "BACK_FLOW",
    0x400000: "UNDERFLOW",
    0x200000: "OVERFLOW",
    0x100000: "SUBMARINE",
    0x080000: "SENSOR_FRAUD",
    0x040000: "PREV_SENSOR_FRAUD",
    0x020000: "MECHANICAL_FRAUD",
    0x010000: "PREV_MECHANICAL_FRAUD",
}


def _be32(data: bytes) -> int:
    return int.from_bytes(data[:4], "big")


def keystream(header: bytes, data: bytes, key: bytes, size: int) -> bytes:
    """The ``size`` LFSR bytes that obfuscate the PRIOS data after its first four bytes.

    ``header`` is the frame's M and A fields as received (8 bytes) followed by the CI
    field; ``data`` the bytes after the CI field (its first three seed the LFSR).
    """
    need(header, 9, "PRIOS header")
    need(data, 3, "PRIOS data")
    state = _be32(key[:4]) ^ _be32(key[4:8])
    state ^= _be32(header[0:4]) ^ _be32(header[4:8]) ^ _be32(header[8:9] + data[:3])
    out = bytearray()
    for _ in range(size):
        for _ in range(8):
            bit = ((state >> 1) ^ (state >> 2) ^ (state >> 11) ^ (state >> 31)) & 1
            state = ((state << 1) | bit) & 0xFFFFFFFF
        out.append(state & 0xFF)
    return bytes(out)


def unscramble(header: bytes, data: bytes, key: bytes) -> bytes | None:
    """The clear PRIOS data of ``data`` (the bytes after the CI field), or ``None`` when
    ``key`` does not give the check byte (see :func:`keystream` for ``header``)."""
    need(data, 5, "PRIOS data")
    stream = keystream(header, data, key, len(data) - 4)
    clear = bytes(a ^ b for a, b in zip(data[4:], stream, strict=True))
    return clear if clear[0] == _CHECK else None


def decode_prios(header: bytes, data: bytes, keys: tuple[bytes, ...] = DEFAULT_KEYS) -> Fields:
    """The fields of one PRIOS telegram; empty when no key unscrambles it."""
    clear = None
    for key in keys:
        clear = unscramble(header, data, key)
        if clear is not None:
            break
    if clear is None:
        return {}
    alarms = data[0] | data[1] << 8 | data[2] << 16
    flags = sorted(name for bit, name in _ALARMS.items() if alarms & bit)
    out: Fields = {"total_m3": uint_le(clear, 1, 4, "PRIOS total") / 1000}
    if len(clear) >= 9:
        out["target_m3"] = uint_le(clear, 5, 4, "PRIOS billing volume") / 1000
    if len(clear) >= 11:
        low, high = clear[9], clear[10]
        year = ((high & 0xF0) >> 1) + (low >> 5)
        year -= 100 if year > 80 else 0
        out["target_date"] = iso_date(2000 + year, high & 0x0F, low & 0x1F)
    out["battery_y"] = (data[1] & 0x1F) / 2
    out["transmit_period_s"] = 1 << ((data[0] & 0x0F) + 2)
    out["status"] = " ".join(flags) if flags else "OK"
    return out


class IzarV2(ExtendedDriver):
    """``izarv2``: PRIOS volume, billing value and date, battery, period and alarms."""

    def __init__(self) -> None:
        super().__init__(
            "izarv2",
            (
                ("HYD", 0x85, 0x07),
                ("HYD", 0x86, 0x07),
                ("SAP", 0x00, 0x07),
                ("DME", 0x78, 0x07),
                ("DME", 0x78, 0x06),
            ),
        )

    def extra(self, telegram: Telegram, generic: Fields) -> Fields:
        """Unscramble the PRIOS data with the default keys."""
        data = telegram.manufacturer_data
        if data is None or telegram.ci not in _PRIOS_CI:
            return {}
        link = telegram.link
        if link.manufacturer == "SAP":
            # Sappel's A field carries a five-byte id; a decoder that maps it to version
            # 0x00 / type 0x07 leaves no way to rebuild the bytes the LFSR needs.
            return {}
        # The link address as the decoder reports it for PRIOS (version and type first
        # on the air), put back into the received byte order.
        header = (
            manufacturer_field(link.manufacturer).to_bytes(2, "little")
            + bytes([link.version, link.device_type])
            + id_to_bytes(link.id)
            + bytes([telegram.ci])
        )
        return decode_prios(header, data)


DRIVERS: tuple[MeterDriver, ...] = (IzarV2(),)
