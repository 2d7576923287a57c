"""From one radio frame to a :class:`~protocols.telegram.Telegram`: the layers in order.

Link layer (CRCs, L C M A) -> optional ELL (CI 0x8C-0x8F, AES-CTR) -> optional AFL (CI 0x90,
mode 7 MAC and counter) -> TPL (CI 0x72 long, 0x7A short, 0x78 none, 0x79 compact) with its
security mode (0, 5, 7) -> EN 13757-3 records. Wired long frames (EN 13757-2, ``68 L L 68``)
enter at the TPL.

The decoder keeps state that outlives one telegram: the keys it was given, the compact
layouts it has learnt, and (when asked to) the last accepted mode 7 counter per meter.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from construct import ConstructError

from protocols.crc import crc16_en13757
from protocols.errors import (
    CrcError,
    DecodeError,
    FormatError,
    NoKeyError,
    NotEncryptedError,
    ReplayError,
    TruncatedError,
    UnknownCompactFormatError,
    UnsupportedError,
    WrongKeyError,
)
from protocols.mbus.application import CI_FIXED, CI_FIXED_MSB, parse_fixed
from protocols.mbus.fixed_records import fixed_meter, fixed_records
from protocols.records import parse_block, parse_compact, parse_records, record_headers
from protocols.slots import slot_constructor
from protocols.telegram import MeterAddress, Telegram, key_for
from protocols.wmbus import layers, security
from protocols.wmbus.address import id_from_bytes, manufacturer_code
from protocols.wmbus.compact import CompactLayouts, format_signature
from protocols.wmbus.config_field import ConfigurationField, Security, parse_configuration_field
from protocols.wmbus.link import FrameFormat, peek_address, strip_crcs

# Telegram(...) through its frozen __init__ costs 4 us, a tenth of a wired decode.
new_telegram = slot_constructor(Telegram)

if TYPE_CHECKING:  # the registry imports the drivers, which import this module's parts
    from protocols.meters.registry import Registry

CI_ELL = frozenset({0x8C, 0x8D, 0x8E, 0x8F})
CI_AFL = 0x90
CI_TPL_LONG = 0x72
CI_TPL_SHORT = 0x7A
CI_TPL_NONE = 0x78
CI_COMPACT = 0x79
CI_MANUFACTURER = range(0xA0, 0xB8)
VERIFY = b"\x2f\x2f"
# ELL layouts by CI (EN 13757-4 clause 13.2): CC and ACC first; SN and the payload CRC last
# where there is a session.
_ELL_LAYOUTS = {
    0x8C: layers.ELL_SHORT,
    0x8D: layers.ELL_SESSION,
    0x8E: layers.ELL_DESTINATION,
    0x8F: layers.ELL_DESTINATION_SESSION,
}


@dataclass(slots=True)
class _Afl:
    mcl: int | None
    counter: int | None
    mac: bytes | None
    ml: int | None
    tpl_start: int  # where the TPL's CI field is: the MAC covers from there


@dataclass(slots=True)
class _State:
    """What the layers learnt on the way down, for the layers below them."""

    frame: bytes
    link: MeterAddress
    m_field: bytes
    a_field: bytes
    access_number: int | None = None
    encrypted: bool = False
    afl: _Afl | None = None


class TelegramDecoder:
    """Decodes frames into telegrams, with keys and learnt compact layouts.

    ``keys`` maps the printed meter id to its 16-byte AES key and is read at each telegram,
    so a caller may add keys later. With ``reject_replays`` the mode 7 message counter of
    each meter must grow (a daemon wants this; an offline decoder of logs does not).
    """

    def __init__(
        self,
        keys: Mapping[str, bytes] | None = None,
        *,
        layouts: CompactLayouts | None = None,
        reject_replays: bool = False,
        registry: Registry | None = None,
    ) -> None:
        """``registry``: the drivers whose compact layouts are known and which decode the
        fields (``telegram_fields(..., registry=decoder.registry)``); the built-in ones by
        default."""
        from protocols.meters.registry import BUILTIN

        self.registry = registry if registry is not None else BUILTIN
        if layouts is None:
            layouts = CompactLayouts(self.registry.compact_layouts())
        self.keys: Mapping[str, bytes] = keys if keys is not None else {}
        self.layouts = layouts
        self._counters: MutableMapping[str, int] | None = {} if reject_replays else None

    def decode(self, raw: bytes) -> Telegram:
        """Decode one frame (with or without link-layer CRCs, or a wired long frame).

        Where the frame came from cannot say whether it carries CRCs, so their layout is
        detected (:func:`~protocols.wmbus.link.strip_crcs`). A frame of L + 1 bytes whose
        last two bytes happen to be the format-B CRC of the rest is ambiguous: when it does
        not decode as format B, it is decoded as the CRC-free frame it then must be.
        """
        if _looks_wired(raw):
            return self._decode_wired(raw)
        canonical, fmt = strip_crcs(raw)
        if fmt is not FrameFormat.B:
            return self.decode_canonical(canonical)
        try:
            return self.decode_canonical(canonical)
        except DecodeError as as_format_b:
            try:
                return self.decode_canonical(raw)
            except DecodeError:
                raise as_format_b from None

    def decode_canonical(self, frame: bytes, address: MeterAddress | None = None) -> Telegram:
        """Decode a wireless frame already without link-layer CRCs (L = len - 1), as
        :func:`~protocols.wmbus.link.strip_declared` leaves it: no second CRC check.

        ``address`` is the frame's :func:`~protocols.wmbus.link.peek_address`, when the
        caller has it already (the pipeline): the link header is then not parsed again.
        """
        if len(frame) < layers.LINK_HEADER.size:
            raise TruncatedError("frame ends before its CI field", offset=len(frame))
        link = peek_address(frame) if address is None else address
        state = _State(frame=frame, link=link, m_field=frame[2:4], a_field=frame[4:10])
        try:
            return self._decode_from(state, frame[1], frame[10], 11)
        except DecodeError as err:
            raise err.with_sender(link.id, link.manufacturer) from None
        except (ConstructError, struct.error, IndexError, ValueError) as err:
            # The fixed headers are unpacked by struct (layers.flat_struct): a header cut
            # short raises struct.error, the same fault as Construct's.
            raise FormatError(f"malformed frame: {err}").with_sender(
                link.id, link.manufacturer
            ) from None

    # -- the layers ---------------------------------------------------------------------

    def _decode_from(self, st: _State, c_field: int, ci: int, pos: int) -> Telegram:
        frame = st.frame
        if ci in CI_ELL:
            frame, pos = self._ell(st, ci, pos)
            ci, pos = _next_ci(frame, pos)
        if ci == CI_AFL:
            pos = self._afl(st, pos)
            ci, pos = _next_ci(st.frame, pos)
        if ci == CI_TPL_LONG:
            return self._tpl(st, c_field, ci, pos, long_header=True)
        if ci == CI_TPL_SHORT:
            return self._tpl(st, c_field, ci, pos, long_header=False)
        if ci == CI_TPL_NONE:
            return self._telegram(st, c_field, ci, st.link, None, None, 0, st.frame[pos:])
        if ci == CI_COMPACT:
            return self._compact(st, c_field, pos)
        if ci in CI_MANUFACTURER:
            return new_telegram(
                link=st.link,
                meter=st.link,
                c_field=c_field,
                ci=ci,
                access_number=st.access_number,
                status=None,
                configuration=None,
                security_mode=0,
                encrypted=st.encrypted,
                payload=b"",
                manufacturer_data=st.frame[pos:],
            )
        raise UnsupportedError(f"CI 0x{ci:02X} is not supported", offset=pos - 1)

    def _ell(self, st: _State, ci: int, pos: int) -> tuple[bytes, int]:
        frame = st.frame
        layout = _ELL_LAYOUTS[ci]
        ell = layout.unpack_from(frame, pos)
        cc, st.access_number = ell[0], ell[1]
        if ci in (0x8C, 0x8E):
            return frame, pos + layout.size
        sn_at = pos + layout.size - 6
        crc_at = sn_at + 4
        sn, payload_crc = ell[-2], ell[-1]
        encryption = sn >> 29
        if encryption == 0:
            if crc16_en13757(frame[crc_at + 2 :]) != payload_crc:
                raise CrcError("ELL payload CRC mismatch", offset=crc_at)
            return frame, crc_at + 2
        if encryption != 1:
            raise UnsupportedError(f"ELL encryption {encryption} is not supported", offset=sn_at)
        key = key_for(self.keys, st.link)
        if key is None:
            if crc16_en13757(frame[crc_at + 2 :]) == payload_crc:
                return frame, crc_at + 2  # logged after decryption: demonstrably plaintext
            raise NoKeyError(f"no key for meter {st.link.id} (ELL AES-CTR)", offset=crc_at)
        _need_key_size(key, security.AES_KEY_BYTES, st.link, "ELL AES-CTR", crc_at)
        iv = security.ell_iv(st.m_field, st.a_field, cc, frame[sn_at:crc_at])
        clear = security.ell_crypt(key, iv, frame[crc_at:])
        if crc16_en13757(clear[2:]) != int.from_bytes(clear[:2], "little"):
            if crc16_en13757(frame[crc_at + 2 :]) == payload_crc:
                raise NotEncryptedError(
                    "payload should have been encrypted (ELL) but arrived in clear", offset=crc_at
                )
            raise WrongKeyError(f"wrong key for meter {st.link.id} (ELL CRC)", offset=crc_at)
        st.encrypted = True
        st.frame = frame[:crc_at] + clear
        return st.frame, crc_at + 2

    def _afl(self, st: _State, pos: int) -> int:
        afl = layers.AflHeader.parse(st.frame[pos:])
        if afl.FCL.MF or afl.FCL.FID:
            raise UnsupportedError("fragmented AFL messages are not supported", offset=pos)
        end: int = pos + 1 + afl.AFLL
        st.afl = _Afl(afl.MCL, afl.MCR, afl.MAC, afl.ML, end)
        if end > len(st.frame):
            raise TruncatedError("AFL longer than the frame", offset=len(st.frame))
        return end

    def _tpl(self, st: _State, c_field: int, ci: int, pos: int, *, long_header: bool) -> Telegram:
        frame = st.frame
        if long_header:
            id_bytes, m, version, device_type, acc, status, cf = layers.TPL_LONG.unpack_from(
                frame, pos
            )
            meter = MeterAddress(
                manufacturer_code(m), id_from_bytes(id_bytes), version, device_type
            )
            m_field, a_field = (
                frame[pos + 4 : pos + 6],
                frame[pos : pos + 4] + frame[pos + 6 : pos + 8],
            )
            pos += layers.TPL_LONG.size
        else:
            acc, status, cf = layers.TPL_SHORT.unpack_from(frame, pos)
            meter, m_field, a_field = st.link, st.m_field, st.a_field
            pos += layers.TPL_SHORT.size
        mode = (cf >> 8) & 0x1F  # the one bit field read per telegram (config_field.py)
        st.access_number = acc
        payload = frame[pos:]
        if mode == 5:
            payload = self._mode5(st, meter, m_field, a_field, acc, cf, payload, pos)
        elif mode == 7:
            payload = self._mode7(st, meter, a_field, cf, frame, pos)
        elif mode == 2:
            payload = self._mode2(st, meter, cf, payload, pos)
        elif mode != 0:
            config = parse_configuration_field(cf)
            if config.security is Security.SPECIFIC:
                return self._specific(st, c_field, ci, meter, status, config, payload)
            raise UnsupportedError(
                f"TPL security mode {mode} ({config.name}) is not supported", offset=pos - 2
            )
        return self._telegram(st, c_field, ci, meter, status, cf, mode, payload)

    def _specific(
        self,
        st: _State,
        c_field: int,
        ci: int,
        meter: MeterAddress,
        status: int | None,
        config: ConfigurationField,
        payload: bytes,
    ) -> Telegram:
        """A manufacturer-specific security mode: records when the payload reads as plain
        records from its first byte to its last (meters send such modes in clear), else
        none, and the payload is left to the meter's driver (which knows its scheme)."""
        note = f"TPL security mode {config.mode} ({config.name})"
        try:
            records, faults = parse_block(payload)
        except DecodeError:
            records, faults = [], ("",)
        if faults or not records:
            records, warning = [], f"{note}: the payload is not plain records; left to the driver"
        else:
            warning = f"{note}: the payload reads as plain records"
        return new_telegram(
            link=st.link,
            meter=meter,
            c_field=c_field,
            ci=ci,
            access_number=st.access_number,
            status=status,
            configuration=config.raw,
            security_mode=config.mode,
            encrypted=False,
            payload=payload,
            records=tuple(records),
            warnings=(warning,),
        )

    def _mode2(self, st: _State, meter: MeterAddress, cf: int, payload: bytes, pos: int) -> bytes:
        """Mode 2 (deprecated): DES-CBC with a zero IV over N 16-byte blocks, plaintext
        starting 2F 2F; the key is the meter's 8-byte DES key."""
        return self._static_key_mode(
            st, meter, cf, payload, pos, 2, security.DES_KEY_BYTES, security.mode2_decrypt
        )

    def _mode5(
        self,
        st: _State,
        meter: MeterAddress,
        m_field: bytes,
        a_field: bytes,
        acc: int,
        cf: int,
        payload: bytes,
        pos: int,
    ) -> bytes:
        iv = security.mode5_iv(m_field, a_field, acc)

        def decrypt(key: bytes, data: bytes) -> bytes:
            return security.mode5_decrypt(key, iv, data)

        return self._static_key_mode(
            st, meter, cf, payload, pos, 5, security.AES_KEY_BYTES, decrypt
        )

    def _static_key_mode(
        self,
        st: _State,
        meter: MeterAddress,
        cf: int,
        payload: bytes,
        pos: int,
        mode: int,
        key_size: int,
        decrypt: Callable[[bytes, bytes], bytes],
    ) -> bytes:
        """Modes with the meter's own key (2, 5): the first N 16-byte blocks decrypted and
        checked by their 2F 2F start; without a key a payload logged in clear passes."""
        size = _encrypted_size(cf, payload, mode, pos)
        key = self._key(st, meter)
        if key is None:
            return _logged_in_clear(payload, size, meter, mode, pos)
        _need_key_size(key, key_size, meter, mode, pos)
        clear = decrypt(key, payload[:size])
        if clear[:2] != VERIFY:
            if payload[:2] == VERIFY:
                raise NotEncryptedError(
                    f"payload should have been encrypted (mode {mode}) but arrived in clear",
                    offset=pos,
                )
            raise WrongKeyError(f"wrong key for meter {meter.id} (mode {mode})", offset=pos)
        st.encrypted = True
        return clear + payload[size:]

    def _mode7(
        self, st: _State, meter: MeterAddress, a_field: bytes, cf: int, frame: bytes, pos: int
    ) -> bytes:
        if pos >= len(frame):
            raise TruncatedError("mode 7 header ends before its CF extension", offset=pos)
        cfe = frame[pos]
        kdf = (cfe >> 4) & 0x03
        pos += 1
        payload = frame[pos:]
        size = _encrypted_size(cf, payload, 7, pos)
        key = self._key(st, meter)
        if key is None:
            return _logged_in_clear(payload, size, meter, 7, pos)
        _need_key_size(key, security.AES_KEY_BYTES, meter, 7, pos)
        afl = st.afl
        if afl is None or afl.counter is None or afl.mac is None or afl.mcl is None:
            raise FormatError("mode 7 needs an AFL with message counter and MAC", offset=pos)
        if kdf != 1:
            raise UnsupportedError(f"mode 7 key derivation {kdf} is not supported", offset=pos - 1)
        id_bytes = a_field[:4]
        k_mac = security.mode7_key(key, security.KDF_MAC_FROM_METER, afl.counter, id_bytes)
        tpl_start = afl.tpl_start
        message = bytes([afl.mcl]) + afl.counter.to_bytes(4, "little")
        if afl.ml is not None:
            message += afl.ml.to_bytes(2, "little")
        mac = security.cmac(k_mac, message + frame[tpl_start:])[: len(afl.mac)]
        if mac != afl.mac:
            raise WrongKeyError(f"MAC mismatch for meter {meter.id} (mode 7)", offset=tpl_start)
        if self._counters is not None:
            last = self._counters.get(meter.id)
            if last is not None and afl.counter <= last:
                raise ReplayError(
                    f"message counter {afl.counter} of meter {meter.id} does not exceed {last}"
                )
            self._counters[meter.id] = afl.counter
        k_enc = security.mode7_key(key, security.KDF_ENC_FROM_METER, afl.counter, id_bytes)
        clear = security.cbc_decrypt(k_enc, bytes(16), payload[:size])
        if clear[:2] != VERIFY:
            raise WrongKeyError(f"wrong key for meter {meter.id} (mode 7)", offset=pos)
        st.encrypted = True
        return clear + payload[size:]

    def _compact(self, st: _State, c_field: int, pos: int) -> Telegram:
        frame = st.frame
        if len(frame) < pos + 4:
            raise TruncatedError("compact frame ends before its data CRC", offset=len(frame))
        signature, data_crc = layers.COMPACT_HEADER.unpack_from(frame, pos)
        data = frame[pos + layers.COMPACT_HEADER.size :]
        link = st.link
        key = (link.manufacturer, link.version, link.device_type, signature)
        layout = self.layouts.find(key)
        if layout is None:
            raise UnknownCompactFormatError(f"unknown compact format {signature:04X}", offset=pos)
        records = tuple(parse_compact(layout, data))
        # The data CRC is that of the full frame the compact one stands for: the records
        # with their headers put back (checked on real Kamstrup telegrams). Some meters'
        # telegrams in the field do not match it while the ELL CRC (which protects the
        # bytes) and the layout's lengths do: keep the values and say so.
        warnings: tuple[str, ...] = ()
        if crc16_en13757(b"".join([r.header + r.data for r in records])) != data_crc:
            warnings = ("compact frame data CRC mismatch",)
        return new_telegram(
            link=link,
            meter=link,
            c_field=c_field,
            ci=CI_COMPACT,
            access_number=st.access_number,
            status=None,
            configuration=None,
            security_mode=0,
            encrypted=st.encrypted,
            payload=data,
            records=records,
            compact_signature=signature,
            warnings=warnings,
        )

    def _telegram(
        self,
        st: _State,
        c_field: int,
        ci: int,
        meter: MeterAddress,
        status: int | None,
        cf: int | None,
        mode: int,
        payload: bytes,
    ) -> Telegram:
        # A wireless telegram cannot be asked for again: what its block yields is kept, and
        # what it does not is said (parse_block). The wired master is strict (it re-asks).
        records, warnings = parse_block(payload)
        if records and not warnings:
            # The layout a compact frame of this meter type will refer to: the headers of
            # this one parse (OMS Vol. 2 annex, signature = CRC of the DIF/VIF bytes).
            headers = record_headers(records)
            signature = format_signature(headers)
            self.layouts.learn(
                (meter.manufacturer, meter.version, meter.device_type, signature), headers
            )
        return new_telegram(
            link=st.link,
            meter=meter,
            c_field=c_field,
            ci=ci,
            access_number=st.access_number,
            status=status,
            configuration=cf,
            security_mode=mode,
            encrypted=st.encrypted,
            payload=payload,
            records=tuple(records),
            warnings=warnings,
        )

    def _key(self, st: _State, meter: MeterAddress) -> bytes | None:
        key = key_for(self.keys, meter)
        if key is None and meter != st.link:
            key = key_for(self.keys, st.link)
        return key

    # -- wired M-Bus --------------------------------------------------------------------

    def _decode_wired(self, raw: bytes) -> Telegram:
        try:
            start, length, length2, start2, c_field, _, ci = layers.WIRED_LONG_HEADER.unpack_from(
                raw
            )
        except struct.error as err:
            raise FormatError(f"malformed wired long frame: {err}", offset=0) from None
        if start != b"\x68" or start2 != b"\x68":
            raise FormatError("wired long frame must start 68 L L 68", offset=0)
        if length != length2:
            raise FormatError("wired frame length fields differ", offset=2)
        if len(raw) < length + 6:
            raise TruncatedError("wired frame shorter than its L field", offset=len(raw))
        if len(raw) > length + 6 or raw[length + 5] != 0x16:
            raise FormatError("wired frame lacks its stop byte 0x16", offset=length + 5)
        if sum(raw[4 : 4 + length]) & 0xFF != raw[4 + length]:
            raise CrcError("wired frame checksum mismatch", offset=4 + length)
        if ci in (CI_FIXED, CI_FIXED_MSB):
            return _decode_fixed_answer(raw[7 : 4 + length], c_field, ci)
        if ci != CI_TPL_LONG:
            raise UnsupportedError(f"wired CI 0x{ci:02X} is not supported", offset=6)
        body = raw[7 : 4 + length]
        if len(body) < 12:
            raise TruncatedError("wired variable-data header is incomplete", offset=7)
        id_bytes, m, version, device_type, acc, status, _ = layers.TPL_LONG.unpack_from(body)
        meter = MeterAddress(manufacturer_code(m), id_from_bytes(id_bytes), version, device_type)
        try:
            records = parse_records(body[12:])
        except DecodeError as err:
            raise err.with_sender(meter.id, meter.manufacturer) from None
        return new_telegram(
            link=meter,
            meter=meter,
            c_field=c_field,
            ci=ci,
            access_number=acc,
            status=status,
            configuration=None,
            security_mode=0,
            encrypted=False,
            payload=body[12:],
            records=tuple(records),
            wired=True,
        )


def _decode_fixed_answer(body: bytes, c_field: int, ci: int) -> Telegram:
    """A fixed-data answer (CI 0x73 / 0x77) as a telegram of two records
    (protocols/mbus/fixed_records.py)."""
    fixed = parse_fixed(ci, body)
    meter = fixed_meter(fixed)
    return new_telegram(
        link=meter,
        meter=meter,
        c_field=c_field,
        ci=ci,
        access_number=fixed.access_number,
        # Bits 6 and 7 say how the counters are stored (a fixed date, binary): not errors.
        status=fixed.status & 0x3F,
        configuration=None,
        security_mode=0,
        encrypted=False,
        payload=body,
        records=fixed_records(fixed),
        wired=True,
    )


def _need_key_size(key: bytes, size: int, meter: MeterAddress, mode: int | str, pos: int) -> None:
    """A key of the wrong kind (an 8-byte DES key for AES, or the other way round) is the
    wrong key, said so."""
    if len(key) != size:
        kind = "an 8-byte DES key" if size == security.DES_KEY_BYTES else "a 16-byte AES key"
        raise WrongKeyError(
            f"wrong key for meter {meter.id}: mode {mode} needs {kind}, not {len(key)} bytes",
            offset=pos,
        )


def _encrypted_size(cf: int, payload: bytes, mode: int, pos: int) -> int:
    """Bytes encrypted under TPL mode 5/7: N 16-byte blocks from CF bits 4-7."""
    blocks = (cf >> 4) & 0x0F
    if len(payload) < 16 * blocks:
        raise TruncatedError(f"mode {mode} announces {blocks} blocks", offset=pos + len(payload))
    return 16 * blocks


def _logged_in_clear(payload: bytes, size: int, meter: MeterAddress, mode: int, pos: int) -> bytes:
    """Without a key: a payload logged after decryption (it starts 2F 2F) is accepted."""
    if payload[:2] == VERIFY or size == 0:
        return payload
    raise NoKeyError(f"no key for meter {meter.id} (mode {mode})", offset=pos)


def _looks_wired(raw: bytes) -> bool:
    # 68 L L 68 ... 16 with the right length: a wireless frame with L = 0x68 would also
    # need equal bytes 1 and 2, 0x68 at 3 and a 0x16 at the end to be mistaken for it.
    return (
        len(raw) >= 9
        and raw[0] == 0x68
        and raw[3] == 0x68
        and raw[1] == raw[2]
        and len(raw) == raw[1] + 6
        and raw[-1] == 0x16
    )


def _next_ci(frame: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(frame):
        raise TruncatedError("frame ends where the next CI field should be", offset=pos)
    return frame[pos], pos + 1
