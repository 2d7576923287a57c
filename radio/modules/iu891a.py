"""IMST iU891A(-XL) / iM891A-XL: IMST's successor of the iM871A, SLIP-framed over 115200 8N1.

Sources (docs/hil.md: not yet tried on hardware): IMST's product pages and the open-source
wmbusmeters reader (``src/wmbus_iu891a.cc``), read for the facts only; no code or text was
taken from it. What those do not establish is said where it matters, below.

Three layers, outermost first:

- SLIP (RFC 1055): every message ends with END (0xC0), and a sender may also start one
  with it; inside a message 0xC0 travels as ``DB DC`` and 0xDB as ``DB DD``.
  :class:`SlipFramer` is that alone, with nothing of the iU891A in it.
- The message: ``endpoint (1) | message id (1) | [status (1)] | payload | CRC-16 (2, LE)``.
  Responses carry the status byte (0 = OK); receive indications and host requests do not.
  The CRC is the iM871A's CRC-16/X-25 (reflected poly 0x1021, init and xorout 0xFFFF) over
  endpoint .. payload. :class:`Iu891aFramer`.
- The requests: :class:`Iu891aDriver`.

Sleep (decision 0009): no low-power request is documented for the iU891A, so ``sleep()``
closes the port only (``PORT_CLOSED``); the module keeps its power and listens on.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections import Counter
from typing import ClassVar, NamedTuple

from construct import GreedyBytes, Int8ul, Int16ul, Int32ul, Struct

from protocols.crc import crc16_x25
from radio.driver import (
    PORT_CLOSED,
    Event,
    Framer,
    ModuleDriver,
    ModuleError,
    ModuleInfo,
    ReplyEvent,
    TelegramEvent,
)
from radio.frame import LinkMode
from radio.framing import MIN_L

log = logging.getLogger(__name__)

# -- SLIP (RFC 1055) -----------------------------------------------------------------------

END = 0xC0
ESC = 0xDB
ESC_END = 0xDC  # DB DC stands for a 0xC0 inside a message
ESC_ESC = 0xDD  # DB DD stands for a 0xDB inside a message
_ESCAPES = {ESC_END: END, ESC_ESC: ESC}

# Longest decoded message accepted. The longest we expect is an RX indication: 2 header
# bytes, 8 bytes before the frame, a frame of at most 256 bytes (L = 255), the CRC: 268.
# Anything longer is line noise without an END; the buffer must stay bounded.
MAX_MESSAGE = 512
# A message of MAX_MESSAGE bytes takes at most twice that escaped: a partial message
# longer than this is over-long whatever its escapes decode to.
MAX_ENCODED = 2 * MAX_MESSAGE


def slip_encode(message: bytes, *, leading_end: bool = True) -> bytes:
    """``message`` escaped and ended with END; with ``leading_end`` started with END too
    (RFC 1055's advice: line noise before it is then closed off as a message of its own)."""
    body = message.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc")
    return (b"\xc0" if leading_end else b"") + body + b"\xc0"


def slip_decode(chunk: bytes) -> bytes | None:
    """The message between two ENDs unescaped; None when an ESC is followed by anything but
    ESC_END or ESC_ESC (RFC 1055 would pass the byte on; here that is a corrupt message)."""
    if ESC not in chunk:
        return chunk
    parts = chunk.split(b"\xdb")
    out = bytearray(parts[0])
    for part in parts[1:]:
        if not part or part[0] not in _ESCAPES:
            return None
        out.append(_ESCAPES[part[0]])
        out += part[1:]
    return bytes(out)


class SlipFramer:
    """RFC 1055 messages out of a byte stream: the :class:`~radio.driver.Framer` contract,
    with what a message means left to :meth:`message`.

    Resynchronising is what SLIP is made for: garbage ends at the next END, and whatever
    came before it is handed to :meth:`message` as one message, which rejects it. Every
    rejected non-empty message counts once in ``bad_frames`` and ``resyncs`` (its reason
    in ``rejected``); empty messages (ENDs back to back: the wake-up bytes, a leading END)
    are nothing. A partial message grows to ``MAX_ENCODED`` bytes at most: beyond that it
    is counted over-long and skipped up to the next END.
    """

    def __init__(self) -> None:
        self._buf = bytearray()  # the escaped bytes of the message in progress
        self._skipping = False  # inside an over-long message, until its END
        self.bad_frames = 0
        self.resyncs = 0
        self.rejected: Counter[str] = Counter()  # reason -> messages (for tests, logs)

    def message(self, data: bytes) -> Event | None:
        """The event for one decoded non-empty message, or None after :meth:`reject`.

        Here (pure SLIP) the message itself, as a reply with key None; a subclass reads it.
        """
        return ReplyEvent(key=None, payload=data)

    def reject(self, reason: str) -> None:
        """Count the message being handled as bad (``reason``: crc, short, escape, ...)."""
        self.bad_frames += 1
        self.resyncs += 1
        self.rejected[reason] += 1

    def feed(self, data: bytes) -> list[Event]:
        """Consume ``data``; every event it completed."""
        buf = self._buf
        buf += data
        events: list[Event] = []
        start = 0
        while (end := buf.find(END, start)) >= 0:
            chunk = bytes(buf[start:end])
            start = end + 1
            if self._skipping:  # the over-long message ends here; it was counted
                self._skipping = False
                continue
            if not chunk:
                continue
            event = self._chunk(chunk)
            if event is not None:
                events.append(event)
        del buf[:start]
        if len(buf) > MAX_ENCODED:
            if not self._skipping:
                self.reject("too long")
                self._skipping = True
            buf.clear()
        return events

    def _chunk(self, chunk: bytes) -> Event | None:
        if len(chunk) > MAX_ENCODED:
            self.reject("too long")
            return None
        decoded = slip_decode(chunk)
        if decoded is None:
            self.reject("escape")
            return None
        if len(decoded) > MAX_MESSAGE:
            self.reject("too long")
            return None
        return self.message(decoded)

    def expire(self) -> list[Event]:
        """The line went quiet inside a message: no END will come for it. Drop all of it
        (a SLIP message cannot start anywhere but after an END, so no later byte of it can
        be the start of another) and count a resync."""
        if self._buf:
            self._buf.clear()
            self._skipping = False
            self.resyncs += 1
        return []

    def reset(self) -> None:
        """Forget any partial message."""
        self._buf.clear()
        self._skipping = False

    @property
    def pending(self) -> int:
        """Escaped bytes held for a message not yet ended."""
        return len(self._buf)


# -- the message layer --------------------------------------------------------------------

EP_DEVMGMT = 0x01  # device management
EP_WMBUS = 0x09  # wM-Bus gateway

# Device management (endpoint 0x01): request / response ids.
PING_REQ, PING_RSP = 0x01, 0x02
GET_DEVICE_INFO_REQ, GET_DEVICE_INFO_RSP = 0x03, 0x04
GET_FW_INFO_REQ, GET_FW_INFO_RSP = 0x05, 0x06  # payload layout not established: unused
RESTART_REQ, RESTART_RSP = 0x07, 0x08
# wM-Bus gateway (endpoint 0x09).
GET_ACTIVE_CONFIGURATION_REQ, GET_ACTIVE_CONFIGURATION_RSP = 0x01, 0x02
SET_ACTIVE_CONFIGURATION_REQ, SET_ACTIVE_CONFIGURATION_RSP = 0x03, 0x04
RX_MESSAGE_IND = 0x20  # a received telegram; no status byte
# The dongle's own address (M, ID, version, type); the byte order of M is not established.
GET_WMBUS_ADDRESS_REQ, GET_WMBUS_ADDRESS_RSP = 0x81, 0x82

MESSAGE_NAMES: dict[tuple[int, int], str] = {
    (EP_DEVMGMT, PING_REQ): "PING",
    (EP_DEVMGMT, GET_DEVICE_INFO_REQ): "GET_DEVICE_INFO",
    (EP_DEVMGMT, GET_FW_INFO_REQ): "GET_FW_INFO",
    (EP_DEVMGMT, RESTART_REQ): "RESTART",
    (EP_WMBUS, GET_ACTIVE_CONFIGURATION_REQ): "GET_ACTIVE_CONFIGURATION",
    (EP_WMBUS, SET_ACTIVE_CONFIGURATION_REQ): "SET_ACTIVE_CONFIGURATION",
    (EP_WMBUS, GET_WMBUS_ADDRESS_REQ): "GET_WMBUS_ADDRESS",
}

# GET_DEVICE_INFO_RSP module type byte -> name (IMST's product table).
MODULE_TYPES: dict[int, str] = {
    0x6D: "iM891A-XL",
    0x6E: "iU891A-XL",
    0xA3: "iM881A-XL",
    0x71: "iU893A-XL",
}

# Configuration link-mode byte (0 = off, 6 = enhanced T: neither is a LinkMode here).
LINK_MODE_CODES: dict[LinkMode, int] = {
    LinkMode.S1: 1,
    LinkMode.T1: 2,
    LinkMode.C1T1: 3,  # C and T at once
    LinkMode.C1: 5,
}
CODE_LINK_MODES = {code: mode for mode, code in LINK_MODE_CODES.items()}
LINK_MODE_OFF, LINK_MODE_ENHANCED_T = 0, 6
KNOWN_LINK_MODE_CODES = frozenset({LINK_MODE_OFF, *CODE_LINK_MODES, LINK_MODE_ENHANCED_T})

# Configuration option bits.
OPT_RX_FILTER = 0x0001  # clear: every telegram is forwarded, not only the filtered ones
OPT_RX_INDICATIONS = 0x0002
OPT_TX_INDICATIONS = 0x0004
OPT_RECALIBRATE = 0x0008
# What the sources give for "receive everything": RX and TX indications, no filter.
RECEIVE_ALL = OPT_RX_INDICATIONS | OPT_TX_INDICATIONS

# The configuration payload, alike for SET_ACTIVE_CONFIGURATION_REQ and
# GET_ACTIVE_CONFIGURATION_RSP (wmbusmeters' reading of IMST's table; 11 bytes, LE).
ActiveConfiguration = Struct(
    "link_mode" / Int8ul,  # LINK_MODE_CODES
    "options" / Int16ul,  # OPT_* bits
    "ui_options" / Int16ul,  # LED / pin options: 0 is fine
    "led_flash_ms" / Int16ul,  # LED flash timing
    "recalibrate_ms" / Int32ul,  # recalibration interval (with OPT_RECALIBRATE)
)
CONFIGURATION_SIZE = ActiveConfiguration.sizeof()  # 11

# GET_DEVICE_INFO_RSP after the status byte. What follows the unique id ("product type /
# id") is not established byte by byte: it is kept as raw bytes.
DeviceInfo = Struct(
    "module_type" / Int8ul,  # MODULE_TYPES
    "unique_id" / Int32ul,  # little-endian
    "product" / GreedyBytes,
)
DEVICE_INFO_MIN = 5

# RX_MESSAGE_IND payload in front of the frame: time stamp (4; taken for one, its unit not
# established), 2 bytes and 1 byte whose meaning is not established (link mode? frame
# format? so a C1+T1 telegram is not labelled C1 or T1 from them), the RSSI as a signed
# byte in dBm. A struct.Struct rather than Construct: this runs once per telegram.
RX_HEADER = struct.Struct("<4s2s1sb")  # timestamp, unknown_2, unknown_1, rssi_dbm
RX_HEADER_SIZE = RX_HEADER.size  # 8: the frame starts at offset 8, from its L field
CRC_SIZE = 2


class ResponseKey(NamedTuple):
    """What a response answers: endpoint, response id, and the module's status byte."""

    endpoint: int
    msg_id: int
    status: int


class RequestKey(NamedTuple):
    """A host request as the emulator sees it (requests have no status byte)."""

    endpoint: int
    msg_id: int


def crc_of(body: bytes) -> bytes:
    """The message CRC (CRC-16/X-25, least significant byte first) of ``body``."""
    return crc16_x25(body).to_bytes(2, "little")


def encode_message(
    endpoint: int,
    msg_id: int,
    payload: bytes = b"",
    *,
    status: int | None = None,
    leading_end: bool = True,
) -> bytes:
    """One message SLIP-framed for the line; ``status`` for a response (the emulator)."""
    body = bytes([endpoint, msg_id]) + (b"" if status is None else bytes([status])) + payload
    return slip_encode(body + crc_of(body), leading_end=leading_end)


def rssi_byte(dbm: float) -> int:
    """The RSSI as the module sends it: whole dBm in a signed byte (for the emulator)."""
    return max(-128, min(127, round(dbm)))


class Iu891aFramer(SlipFramer):
    """iU891A messages from SLIP: telegrams and responses from the module, or, with
    ``requests=True``, the host's requests (for the emulator: no status byte)."""

    def __init__(self, *, requests: bool = False) -> None:
        super().__init__()
        self.requests = requests

    def message(self, data: bytes) -> Event | None:
        if len(data) < 2 + CRC_SIZE:
            self.reject("short")
            return None
        body = data[:-CRC_SIZE]
        if crc_of(body) != data[-CRC_SIZE:]:
            self.reject("crc")
            return None
        endpoint, msg_id = body[0], body[1]
        if self.requests:
            return ReplyEvent(key=RequestKey(endpoint, msg_id), payload=body[2:])
        if endpoint == EP_WMBUS and msg_id == RX_MESSAGE_IND:
            return self._telegram(body[2:])
        if len(body) < 3:
            self.reject("short")  # a response without its status byte
            return None
        return ReplyEvent(key=ResponseKey(endpoint, msg_id, body[2]), payload=body[3:])

    def _telegram(self, payload: bytes) -> TelegramEvent | None:
        # At least L C M(2) A(6) CI after the header.
        if len(payload) < RX_HEADER_SIZE + 1 + MIN_L:
            self.reject("short")
            return None
        rssi = RX_HEADER.unpack_from(payload)[3]
        # The frame as the module gives it, from L on, link-layer CRCs removed. Whether L
        # is rewritten for a format-B frame (whose L counts its CRCs) is not established:
        # it is passed on as received.
        return TelegramEvent(raw=payload[RX_HEADER_SIZE:], rssi_dbm=float(rssi), crc_present=False)


# -- the driver ---------------------------------------------------------------------------

# Before the first request the host sends 30 ENDs and waits about 100 ms (the module's
# UART wakes up on them; to the framer they are empty messages).
WAKE_UP = bytes([END]) * 30
WAKE_UP_S = 0.1


def configuration_payload(link_mode: int, options: int = RECEIVE_ALL) -> bytes:
    """A SET_ACTIVE_CONFIGURATION payload for a link-mode code.

    UI options, LED flash timing and recalibration interval go as 0: no LED options, and
    no recalibration (OPT_RECALIBRATE clear). What the module does with a 0 flash time is
    not established; with the UI options 0 it is taken to be unused (docs/hil.md).
    """
    return ActiveConfiguration.build(
        {
            "link_mode": link_mode,
            "options": options,
            "ui_options": 0,
            "led_flash_ms": 0,
            "recalibrate_ms": 0,
        }
    )


class Iu891aDriver(ModuleDriver):
    """IMST iU891A-XL USB stick (and the iM891A-XL module behind a USB-serial bridge)."""

    name: ClassVar[str] = "iu891a"
    baudrate: ClassVar[int] = 115200
    # No low-power request is documented: sleep closes the port (the default hooks).
    sleep_method: ClassVar[str] = PORT_CLOSED

    def make_framer(self) -> Framer:
        return Iu891aFramer()

    async def command(self, endpoint: int, msg_id: int, payload: bytes = b"") -> bytes:
        """Send a request and return its response's payload (after the status byte).

        Raises ModuleError naming the status code when the module answers non-zero (what
        the codes mean is not established), TimeoutError when it does not answer.
        """
        wanted = (endpoint, msg_id + 1)  # a response's id is its request's plus one

        def match(reply: ReplyEvent) -> bool:
            return isinstance(reply.key, ResponseKey) and reply.key[:2] == wanted

        reply = await self.request(encode_message(endpoint, msg_id, payload), match)
        assert isinstance(reply.key, ResponseKey)
        if reply.key.status:
            what = MESSAGE_NAMES.get((endpoint, msg_id), f"message 0x{endpoint:02X}/0x{msg_id:02X}")
            raise ModuleError(f"iU891A refused {what}: status 0x{reply.key.status:02X}")
        return reply.payload

    async def ping(self) -> bool:
        try:
            await self.command(EP_DEVMGMT, PING_REQ)
        except (ModuleError, TimeoutError):
            return False
        return True

    async def wake_up(self) -> None:
        """The wake-up sequence. Sent before every configuration, not only the first: a
        replugged or long idle module may need it again (whether it does is not
        established), and to an awake module the ENDs are empty messages."""
        self.write(WAKE_UP)
        await asyncio.sleep(WAKE_UP_S)

    async def configure(self) -> None:
        await self.wake_up()
        raw_info = await self.command(EP_DEVMGMT, GET_DEVICE_INFO_REQ)
        if len(raw_info) >= DEVICE_INFO_MIN:
            info = DeviceInfo.parse(raw_info)
            extra = {"product": info.product.hex().upper()} if info.product else {}
            self.info = ModuleInfo(
                MODULE_TYPES.get(info.module_type, f"IMST 0x{info.module_type:02X}"),
                # GET_FW_INFO exists, but its payload's layout is not established.
                firmware=None,
                module_id=f"{info.unique_id:08X}",
                extra=extra,
            )
        code = LINK_MODE_CODES[self.mode]
        await self.command(EP_WMBUS, SET_ACTIVE_CONFIGURATION_REQ, configuration_payload(code))
        raw_config = await self.command(EP_WMBUS, GET_ACTIVE_CONFIGURATION_REQ)
        if len(raw_config) < CONFIGURATION_SIZE:
            raise ModuleError(f"iU891A configuration read back short: {raw_config.hex()}")
        config = ActiveConfiguration.parse(raw_config)
        if config.link_mode != code:
            got = CODE_LINK_MODES.get(config.link_mode)
            name = got.value if got else f"code {config.link_mode}"
            raise ModuleError(f"iU891A reads back link mode {name}, not {self.mode.value}")
        if not config.options & OPT_RX_INDICATIONS:
            log.warning("iU891A on %s reads back RX indications off", self.port_path)
        log.info("iU891A on %s listening in %s", self.port_path, self.mode.value)
