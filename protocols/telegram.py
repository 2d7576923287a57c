"""The decoded telegram: who sent it, how it travelled, and its data records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from protocols.records.model import Record


@dataclass(frozen=True, slots=True)
class MeterAddress:
    """Manufacturer, identification number, version and device type of a meter.

    On the wireless link this is the M and A fields; a long TPL header (CI 0x72) or a wired
    variable-data header carries the same four fields for the meter behind the sender.
    """

    manufacturer: str  # three letters, e.g. "KAM"
    id: str  # eight BCD digits as printed, e.g. "76348799"
    version: int
    device_type: int

    @property
    def key(self) -> str:
        """The meter's identity, ``MAN:ID`` (e.g. ``KAM:76348799``): identification numbers
        are unique per manufacturer only (EN 13757-4 5.6, M and A fields)."""
        return f"{self.manufacturer}:{self.id}"


def key_for(keys: Mapping[str, bytes], meter: MeterAddress) -> bytes | None:
    """The AES key of ``meter``: keyed by ``MAN:ID``, else by the id alone (which then
    stands for that id of every manufacturer)."""
    key = keys.get(meter.key)
    return key if key is not None else keys.get(meter.id)


@dataclass(frozen=True, slots=True)
class Telegram:
    """One telegram after the link, ELL, AFL and transport layers have been peeled off.

    ``link`` is the address in the link layer; ``meter`` the meter the data belongs to (the
    long TPL header's address when present, else the link address). ``payload`` is the
    application data after decryption, ``records`` its data records. ``status`` is the TPL
    status byte (``None`` without TPL header). ``encrypted`` says whether it was encrypted
    on the air (and has been decrypted).
    """

    link: MeterAddress
    meter: MeterAddress
    c_field: int
    ci: int
    access_number: int | None
    status: int | None
    configuration: int | None
    security_mode: int
    encrypted: bool
    payload: bytes
    records: tuple[Record, ...] = ()
    compact_signature: int | None = None
    manufacturer_data: bytes | None = None
    wired: bool = False
    warnings: tuple[str, ...] = field(default=())
