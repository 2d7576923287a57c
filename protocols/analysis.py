"""One telegram laid open, byte by byte: the technician's and the driver author's view
(``concentratord analyze``, docs/cli.md).

Every layer is annotated where it sits in the frame (offsets into the frame without
link-layer CRCs): the link header, ELL and AFL, the TPL header with its configuration
field, then each data record with its DIF/VIF meaning and value. Then which driver claims
the meter and what it and the generic driver decode, or why decoding fails. Pure: bytes,
keys and a registry in, a dictionary out.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from construct import ConstructError

from protocols.errors import (
    DecodeError,
    NoKeyError,
    TruncatedError,
    UnknownCompactFormatError,
    WrongKeyError,
)
from protocols.meters.generic import GenericDriver, is_compact_profile
from protocols.meters.media import media_name
from protocols.meters.registry import BUILTIN, Registry
from protocols.readout import telegram_fields
from protocols.records.model import Record
from protocols.telegram import Telegram
from protocols.wmbus import layers
from protocols.wmbus.address import id_from_bytes, manufacturer_code
from protocols.wmbus.config_field import parse_configuration_field
from protocols.wmbus.decoder import (
    CI_AFL,
    CI_COMPACT,
    CI_ELL,
    CI_MANUFACTURER,
    CI_TPL_LONG,
    CI_TPL_SHORT,
    TelegramDecoder,
)
from protocols.wmbus.link import FrameFormat, strip_crcs

# EN 13757-4 table 1 (C field, meter to gateway).
C_FIELDS = {
    0x44: "SND_NR (send, no reply)",
    0x46: "SND_IR (installation request)",
    0x47: "ACC_NR (access, no reply)",
    0x48: "ACC_DMD (access demand)",
    0x06: "ACK",
    0x08: "RSP_UD (response with user data)",
    0x18: "RSP_UD (FCB set)",
    0x28: "RSP_UD (ACD set)",
    0x38: "RSP_UD (FCB, ACD set)",
}
# EN 13757-3 table 4: the DIF data field.
DATA_FIELDS = {
    0x0: "no data",
    0x1: "8-bit integer",
    0x2: "16-bit integer",
    0x3: "24-bit integer",
    0x4: "32-bit integer",
    0x5: "32-bit real",
    0x6: "48-bit integer",
    0x7: "64-bit integer",
    0x8: "selection for readout",
    0x9: "2-digit BCD",
    0xA: "4-digit BCD",
    0xB: "6-digit BCD",
    0xC: "8-digit BCD",
    0xD: "variable length",
    0xE: "12-digit BCD",
    0xF: "special function",
}
CI_NAMES = {
    0x72: "TPL long header",
    0x7A: "TPL short header",
    0x78: "no TPL header",
    0x79: "compact frame",
    0x8C: "ELL short",
    0x8D: "ELL with session number",
    0x8E: "ELL short, addressed",
    0x8F: "ELL with session number, addressed",
    0x90: "AFL",
}
FAULTS = (
    (NoKeyError, "no key"),
    (WrongKeyError, "wrong key"),
    (UnknownCompactFormatError, "unknown compact format signature"),
    (TruncatedError, "truncated"),
)


def _field(name: str, frame: bytes, start: int, end: int, meaning: str) -> dict[str, Any]:
    return {
        "name": name,
        "offset": start,
        "bytes": frame[start:end].hex().upper(),
        "meaning": meaning,
    }


def _link(frame: bytes) -> dict[str, Any]:
    length, c, m, id_bytes, version, device_type, _ = layers.LINK_HEADER.unpack_from(frame)
    fields = [
        _field("L", frame, 0, 1, f"{length} bytes follow (link-layer CRCs not counted)"),
        _field("C", frame, 1, 2, C_FIELDS.get(c, f"C field 0x{c:02X}")),
        _field("M", frame, 2, 4, f"manufacturer {manufacturer_code(m)}"),
        _field("A.id", frame, 4, 8, f"meter id {id_from_bytes(id_bytes)}"),
        _field("A.version", frame, 8, 9, f"version 0x{version:02X}"),
        _field(
            "A.type", frame, 9, 10, f"device type 0x{device_type:02X}: {media_name(device_type)}"
        ),
    ]
    return {"layer": "link", "offset": 0, "fields": fields}


def _ci(frame: bytes, pos: int) -> dict[str, Any]:
    ci = frame[pos]
    name = CI_NAMES.get(ci) or (
        "manufacturer specific" if ci in CI_MANUFACTURER else "not supported"
    )
    return _field("CI", frame, pos, pos + 1, f"0x{ci:02X}: {name}")


def _ell(frame: bytes, ci: int, pos: int) -> tuple[dict[str, Any], int]:
    size = {0x8C: 2, 0x8D: 8, 0x8E: 10, 0x8F: 16}[ci]
    fields = [
        _field("CC", frame, pos, pos + 1, "communication control"),
        _field("ACC", frame, pos + 1, pos + 2, f"access number {frame[pos + 1]}"),
    ]
    if ci in (0x8D, 0x8F):
        sn_at = pos + size - 6
        sn = int.from_bytes(frame[sn_at : sn_at + 4], "little")
        how = {0: "none", 1: "AES-128-CTR"}.get(sn >> 29, f"method {sn >> 29}")
        fields.append(_field("SN", frame, sn_at, sn_at + 4, f"session number, encryption {how}"))
        fields.append(_field("PayloadCRC", frame, sn_at + 4, sn_at + 6, "CRC of what follows"))
    return {"layer": "ELL", "offset": pos, "fields": fields}, pos + size


def _afl(frame: bytes, pos: int) -> tuple[dict[str, Any], int]:
    length = frame[pos]
    fields = [
        _field("AFLL", frame, pos, pos + 1, f"{length} bytes of AFL follow"),
        _field("AFL", frame, pos + 1, pos + 1 + length, "fragment control, counter, MAC"),
    ]
    return {"layer": "AFL", "offset": pos, "fields": fields}, pos + 1 + length


def _tpl(frame: bytes, ci: int, pos: int) -> tuple[dict[str, Any], int]:
    fields = []
    if ci == CI_TPL_LONG:
        m = int.from_bytes(frame[pos + 4 : pos + 6], "little")
        fields += [
            _field("ID", frame, pos, pos + 4, f"meter id {id_from_bytes(frame[pos : pos + 4])}"),
            _field("M", frame, pos + 4, pos + 6, f"manufacturer {manufacturer_code(m)}"),
            _field("VER", frame, pos + 6, pos + 7, f"version 0x{frame[pos + 6]:02X}"),
            _field("DEV", frame, pos + 7, pos + 8, media_name(frame[pos + 7])),
        ]
        pos += 8
    cf = parse_configuration_field(int.from_bytes(frame[pos + 2 : pos + 4], "little"))
    blocks = "" if cf.encrypted_blocks is None else f", {cf.encrypted_blocks} encrypted blocks"
    fields += [
        _field("ACC", frame, pos, pos + 1, f"access number {frame[pos]}"),
        _field("ST", frame, pos + 1, pos + 2, f"status 0x{frame[pos + 1]:02X}"),
        _field("CF", frame, pos + 2, pos + 4, f"security mode {cf.mode} ({cf.name}){blocks}"),
    ]
    return {"layer": "TPL", "offset": pos, "fields": fields}, pos + 4


def _layers(frame: bytes) -> list[dict[str, Any]]:
    """The headers of a wireless frame without CRCs, as far as they can be read."""
    out = [_link(frame)]
    pos = 10
    try:
        while pos < len(frame):
            ci = frame[pos]
            out[-1]["fields"].append(_ci(frame, pos))
            pos += 1
            if ci in CI_ELL:
                layer, pos = _ell(frame, ci, pos)
            elif ci == CI_AFL:
                layer, pos = _afl(frame, pos)
            elif ci in (CI_TPL_SHORT, CI_TPL_LONG):
                layer, pos = _tpl(frame, ci, pos)
                out.append(layer)
                break
            elif ci == CI_COMPACT:
                fields = [
                    _field("signature", frame, pos, pos + 2, "format signature of the layout"),
                    _field("data CRC", frame, pos + 2, pos + 4, "CRC of the full records"),
                ]
                out.append({"layer": "compact", "offset": pos, "fields": fields})
                break
            else:  # CI_TPL_NONE, a manufacturer CI or an unknown one: data follows
                break
            out.append(layer)
    except (IndexError, struct.error, ConstructError):
        out.append({"layer": "end", "offset": len(frame), "fields": [], "error": "frame ends"})
    return out


def _record(record: Record, base: int) -> dict[str, Any]:
    header = record.header
    dif = header[0]
    value: Any = record.value
    if isinstance(value, bytes):
        value = value.hex().upper()
    meaning = (
        f"{record.vif_range.value}, {record.function.value}, storage {record.storage}"
        + (f", tariff {record.tariff}" if record.tariff else "")
        + (f", subunit {record.subunit}" if record.subunit else "")
        + (", compact profile" if is_compact_profile(record) else "")
    )
    return {
        "offset": base + record.offset,
        "header": header.hex().upper(),
        "data": record.data.hex().upper(),
        "dif": f"{dif:02X}: {DATA_FIELDS[dif & 0x0F]}",
        "meaning": meaning,
        "unit": record.unit,
        "value": value,
    }


def _failure(err: DecodeError) -> dict[str, Any]:
    kind = next((name for cls, name in FAULTS if isinstance(err, cls)), "format")
    return {"kind": kind, "reason": err.reason, "offset": err.offset}


def _drivers(telegram: Telegram, registry: Registry) -> dict[str, Any]:
    meter = telegram.meter
    driver = registry.driver_for(meter)
    others = sorted(
        d.name
        for d in registry.drivers
        if d is not driver and any(m == meter.manufacturer for m, _, _ in d.mvt)
    )
    out: dict[str, Any] = {
        "claimed_by": driver.name,
        "triple": [meter.manufacturer, f"0x{meter.version:02X}", f"0x{meter.device_type:02X}"],
        "other_drivers_of_manufacturer": others,
        "generic": GenericDriver().fields(telegram),
    }
    try:
        out["fields"] = telegram_fields(telegram, registry=registry)
    except DecodeError as err:
        out["error"] = _failure(err)
    return out


def analyze(
    raw: bytes, keys: Mapping[str, bytes] | None = None, registry: Registry = BUILTIN
) -> dict[str, Any]:
    """Every layer of ``raw`` annotated, the records, the drivers, and the outcome."""
    wired = raw[:1] == b"\x68"
    try:
        canonical, fmt = (raw, FrameFormat.NONE) if wired else strip_crcs(raw)
    except DecodeError as err:
        return {"frame": raw.hex().upper(), "outcome": "error", "error": _failure(err)}
    out: dict[str, Any] = {
        "frame": canonical.hex().upper(),
        "link_layer_crcs": "none" if fmt is FrameFormat.NONE else f"format {fmt.value}",
    }
    if len(canonical) >= layers.LINK_HEADER.size and not wired:
        out["layers"] = _layers(canonical)
    try:
        telegram = TelegramDecoder(keys or {}, registry=registry).decode(raw)
    except DecodeError as err:
        out["outcome"] = "error"
        out["error"] = _failure(err)
        return out
    base = len(canonical) - len(telegram.payload) if telegram.payload else 0
    out["records"] = [_record(r, base) for r in telegram.records]
    out["warnings"] = list(telegram.warnings)
    out["encrypted"] = telegram.encrypted
    out["drivers"] = _drivers(telegram, registry)
    out["outcome"] = "error" if "error" in out["drivers"] else "ok"
    return out
