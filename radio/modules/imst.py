"""IMST iM871A / iM170A: the WM-Bus HCI host protocol over 57600 8N1.

HCI message: ``A5 | control<<4 | endpoint | message id | length | payload |
[timestamp (4)] [RSSI (1)] [CRC-16/X-25 (2, LE)]``; control bits 0x2 timestamp, 0x4 RSSI,
0x8 CRC present (0x1: the module rejected the message). Received telegrams come on the
radio-link endpoint as message 0x03, from the C field on (no L, no link-layer CRCs).

Sleep (decision 0009): ``sleep()`` sends the device-management "enter low-power mode"
request and closes the port; ``wake()`` sends a wake byte, pings until the module answers
and configures it again. Unverified on hardware (docs/hil.md): a module that refuses has
its port closed only.
"""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar

from protocols.crc import crc16_x25
from radio.driver import (
    LOW_POWER_MODE,
    Event,
    Framer,
    ModuleDriver,
    ModuleError,
    ModuleInfo,
    ReplyEvent,
    TelegramEvent,
)
from radio.frame import LinkMode
from radio.framing import BufferFramer, Parsed, Scan

log = logging.getLogger(__name__)

START = 0xA5
EP_DEVMGMT = 0x01
EP_RADIOLINK = 0x02
EP_RADIOLINK_TEST = 0x03
EP_HWTEST = 0x04
ENDPOINTS = frozenset({EP_DEVMGMT, EP_RADIOLINK, EP_RADIOLINK_TEST, EP_HWTEST})

CTRL_TIMESTAMP = 0x2
CTRL_RSSI = 0x4
CTRL_CRC = 0x8
CTRL_REJECTED = 0x1

PING_REQ, PING_RSP = 0x01, 0x02
SET_CONFIG_REQ, SET_CONFIG_RSP = 0x03, 0x04
GET_CONFIG_REQ, GET_CONFIG_RSP = 0x05, 0x06
RESET_REQ, RESET_RSP = 0x07, 0x08
DEVICE_INFO_REQ, DEVICE_INFO_RSP = 0x0F, 0x10
# Enter low-power mode: from IMST's HCI specification as tabled by several open-source
# readers (none of which sends it). The payload is not established publicly, so an empty
# one is sent; unverified until tried on hardware (docs/hil.md, decision 0009).
ENTER_LPM_REQ, ENTER_LPM_RSP = 0x1D, 0x1E
RADIOLINK_TELEGRAM_IND = 0x03

DEVMGMT_REPLIES = frozenset(
    {
        PING_RSP,
        SET_CONFIG_RSP,
        GET_CONFIG_RSP,
        RESET_RSP,
        DEVICE_INFO_RSP,
        ENTER_LPM_RSP,
        PING_REQ,
        SET_CONFIG_REQ,
        GET_CONFIG_REQ,
        RESET_REQ,
        DEVICE_INFO_REQ,
        ENTER_LPM_REQ,
    }
)
# C fields of telegrams a meter sends (EN 13757-4 table 1): SND_NR, SND_IR, ACC_NR,
# ACC_DMD, RSP_UD and their variants.
TELEGRAM_C_FIELDS = frozenset({0x44, 0x46, 0x47, 0x48, 0x06, 0x08, 0x18, 0x28, 0x38})

LINK_MODE_CODES: dict[LinkMode, int] = {
    LinkMode.S1: 0x00,
    LinkMode.T1: 0x03,
    LinkMode.C1: 0x07,  # C1, frame format B
    LinkMode.C1T1: 0x0A,  # firmware 0x14 and later
}
CODE_LINK_MODES = {v: k for k, v in LINK_MODE_CODES.items()}
MODULE_TYPES = {0x33: "iM871A", 0x36: "iM170A"}
C1T1_MIN_FIRMWARE = 0x14

# Set-configuration flags (IIFlag1 bit 1: link mode follows; IIFlag2 0x30: RSSI and
# timestamp attachment follow, in that order) [impl].
IIFLAG1_LINK_MODE = 0x02
IIFLAG2_RSSI_TIMESTAMP = 0x30

# Waking from low-power mode: the module wakes on the UART start bit of whatever the host
# sends (IMST's user manual), so one dummy byte goes first; it may itself be lost.
WAKE_BYTE = b"\x00"
# Time given to the oscillator and firmware after the wake byte before the first command
# (not documented; a command sent into a still-waking module would be lost too).
WAKE_S = 0.05
WAKE_PINGS = 5  # pings (request_timeout each) before waking counts as failed


def rssi_dbm(raw: int) -> float:
    """The RSSI byte as dBm: saturates at 0 dBm from 230 up."""
    return 0.0 if raw >= 230 else -100.0 + 0.5 * (raw - 45)


def rssi_raw(dbm: float) -> int:
    """The RSSI byte for a level in dBm (what the module sends; for the emulator)."""
    return max(0, min(229, round((dbm + 100.0) * 2 + 45)))


def hci_message(
    endpoint: int,
    msg_id: int,
    payload: bytes = b"",
    *,
    crc: bool = True,
    rssi: int | None = None,
    timestamp: int | None = None,
) -> bytes:
    """One HCI message with the optional trailers."""
    control = (CTRL_CRC if crc else 0) | (CTRL_RSSI if rssi is not None else 0)
    control |= CTRL_TIMESTAMP if timestamp is not None else 0
    body = bytes([(control << 4) | endpoint, msg_id, len(payload)]) + payload
    if timestamp is not None:
        body += timestamp.to_bytes(4, "little")
    if rssi is not None:
        body += bytes([rssi])
    if crc:
        body += crc16_x25(body).to_bytes(2, "little")
    return bytes([START]) + body


class ImstFramer(BufferFramer):
    """HCI messages out of the byte stream."""

    @staticmethod
    def _plausible(buf: bytearray, endpoint: int, msg_id: int, total: int) -> bool:
        if len(buf) > total and buf[total] != START:
            return False
        if endpoint == EP_RADIOLINK and msg_id == RADIOLINK_TELEGRAM_IND:
            return buf[3] >= 10 and buf[4] in TELEGRAM_C_FIELDS
        return endpoint == EP_DEVMGMT and msg_id in DEVMGMT_REPLIES

    def next_start(self, buf: bytearray, after: int) -> int:
        index = buf.find(START, after)
        return len(buf) if index < 0 else index

    def parse(self, buf: bytearray) -> Parsed:
        if len(buf) < 4:
            return Scan.NEED_MORE
        control, endpoint = buf[1] >> 4, buf[1] & 0x0F
        if endpoint not in ENDPOINTS:
            return Scan.BAD
        length = buf[3]
        total = 4 + length
        total += 4 if control & CTRL_TIMESTAMP else 0
        total += 1 if control & CTRL_RSSI else 0
        total += 2 if control & CTRL_CRC else 0
        if len(buf) < total:
            return Scan.NEED_MORE
        msg_id = buf[2]
        if control & CTRL_CRC:
            body_end = total - 2
            if crc16_x25(buf[1:body_end]) != int.from_bytes(buf[body_end:total], "little"):
                self.bad_frames += 1
                return Scan.BAD
        elif not self._plausible(buf, endpoint, msg_id, total):
            # Without a CRC a false start byte in garbage could swallow the real frames
            # behind it: accept only what looks like a message and is followed by another
            # start byte (or by nothing yet).
            return Scan.BAD
        payload = bytes(buf[4 : 4 + length])
        pos = 4 + length + (4 if control & CTRL_TIMESTAMP else 0)
        rssi = rssi_dbm(buf[pos]) if control & CTRL_RSSI else None
        event: Event
        if endpoint == EP_RADIOLINK and msg_id == RADIOLINK_TELEGRAM_IND:
            if length < 10:
                self.bad_frames += 1
                return total, None
            event = TelegramEvent(raw=bytes([length]) + payload, rssi_dbm=rssi)
        else:
            event = ReplyEvent(
                key=(endpoint, msg_id, bool(control & CTRL_REJECTED)), payload=payload
            )
        return total, event


class Im871aDriver(ModuleDriver):
    """IMST iM871A and iM170A sticks."""

    name: ClassVar[str] = "im871a"
    baudrate: ClassVar[int] = 57600
    sleep_method: ClassVar[str] = LOW_POWER_MODE

    _lpm_refusal_logged = False  # the warning comes once, not every listening window

    def make_framer(self) -> Framer:
        return ImstFramer()

    async def enter_low_power(self) -> bool:
        """Send the enter-low-power request; True when the module acknowledged it."""
        try:
            await self._devmgmt(ENTER_LPM_REQ)
        except (ModuleError, TimeoutError) as err:
            level = logging.DEBUG if self._lpm_refusal_logged else logging.WARNING
            self._lpm_refusal_logged = True
            log.log(level, "iM871A refused low-power mode: the port is only closed (%s)", err)
            return False
        return True

    async def leave_low_power(self) -> None:
        """Wake byte, a pause, then ping until the module answers (TimeoutError if not)."""
        self.write(WAKE_BYTE)
        await asyncio.sleep(WAKE_S)
        for _ in range(WAKE_PINGS):
            if await self.ping():
                return
        raise TimeoutError(f"iM871A did not wake from low-power mode ({WAKE_PINGS} pings)")

    async def _devmgmt(self, msg_id: int, payload: bytes = b"") -> bytes:
        wanted = msg_id + 1

        def match(reply: ReplyEvent) -> bool:
            return isinstance(reply.key, tuple) and reply.key[:2] == (EP_DEVMGMT, wanted)

        reply = await self.request(hci_message(EP_DEVMGMT, msg_id, payload), match)
        assert isinstance(reply.key, tuple)
        if reply.key[2]:
            raise ModuleError(f"iM871A rejected message 0x{msg_id:02X}")
        return reply.payload

    async def ping(self) -> bool:
        try:
            await self._devmgmt(PING_REQ)
        except (ModuleError, TimeoutError):
            return False
        return True

    async def configure(self) -> None:
        info = await self._devmgmt(DEVICE_INFO_REQ)
        if len(info) >= 8:
            self.info = ModuleInfo(
                MODULE_TYPES.get(info[0], f"IMST 0x{info[0]:02X}"),
                firmware=f"{info[2]:02X}",
                module_id=info[4:8].hex().upper(),
                extra={"hci_version": f"{info[3]:02X}"},
            )
            firmware = info[2]
        else:
            firmware = 0
        if self.mode is LinkMode.C1T1 and firmware < C1T1_MIN_FIRMWARE:
            raise ModuleError(f"iM871A firmware {firmware:02X} cannot receive C1 and T1 at once")
        code = LINK_MODE_CODES[self.mode]
        # NVM flag 0 (RAM only): a reconfigured stick must not wear its flash.
        await self._devmgmt(
            SET_CONFIG_REQ,
            bytes([0x00, IIFLAG1_LINK_MODE, code, IIFLAG2_RSSI_TIMESTAMP, 0x01, 0x00]),
        )
        config = await self._devmgmt(GET_CONFIG_REQ)
        read_back = _link_mode_of(config)
        if read_back is not self.mode:
            raise ModuleError(f"iM871A reads back link mode {read_back}, not {self.mode}")
        log.info("iM871A on %s listening in %s", self.port_path, self.mode.value)


def _link_mode_of(config: bytes) -> LinkMode | None:
    """The link mode in a get-configuration reply (IIFlag1, device mode, link mode, ...)."""
    if len(config) < 3 or not config[0] & IIFLAG1_LINK_MODE:
        return None
    index = 1 + (1 if config[0] & 0x01 else 0)  # device mode comes first when flagged
    return CODE_LINK_MODES.get(config[index])
