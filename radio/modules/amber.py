"""Amber AMB8465 / Würth Metis-II: the Amber command interface over 9600 8N1.

Command frame: ``FF cmd len payload cs`` with ``cs`` the XOR of every byte before it;
the module answers ``cmd | 0x80``. A received telegram comes either as a command,
``FF 03 len C ... data RSSI cs`` (``len`` counts the RSSI; the L field is not sent, the host
puts it back), or, in transparent mode, as ``L C ... data RSSI`` with nothing around it.
The framer takes both, in the same stream: replies stay command frames either way.

Parameter memory as we read it [unverified]: ``FF 0A 02 00 80`` asks for 128 bytes from
offset 0; the AMB8465 answers ``FF 8A 7A 00 78`` + 120 bytes, i.e. the payload is offset,
length, then the memory. We take RSSI_Enable at memory offset 0x45 and the link mode
(Mode_Preselect) at 0x46. On a real module that cell may hold the non-volatile preselect
rather than the mode set volatile a moment ago, so a different read-back is logged and
reported, not fatal; the set-mode confirmation status is what must be 0.
"""

from __future__ import annotations

import logging
from functools import reduce
from operator import xor
from typing import ClassVar

from radio.driver import (
    Framer,
    ModuleDriver,
    ModuleError,
    ModuleInfo,
    ReplyEvent,
    TelegramEvent,
)
from radio.frame import LinkMode
from radio.framing import (
    MIN_L,
    TELEGRAM_C_FIELDS,
    BufferFramer,
    Follow,
    Parsed,
    Scan,
    next_telegram_start,
    scan_l_frame,
)

log = logging.getLogger(__name__)

START = 0xFF
CMD_DATA_IND = 0x03
CMD_SET_MODE_REQ = 0x04
CMD_RESET_REQ = 0x05
CMD_GET_REQ = 0x0A
CMD_SERIALNO_REQ = 0x0B
CMD_FWV_REQ = 0x0C  # [unverified] documented for the AMB8426-M sibling
CMD_FACTORY_RESET_REQ = 0x11
REPLY_BIT = 0x80
HOST_COMMANDS = frozenset(
    {CMD_SET_MODE_REQ, CMD_RESET_REQ, CMD_GET_REQ, CMD_SERIALNO_REQ, CMD_FWV_REQ}
    | {CMD_FACTORY_RESET_REQ}
)
# Payload length of each reply the host may see (None: variable, checked by its parser).
# Knowing them lets a false 0xFF in noise be refused at once instead of waiting for its
# claimed length to arrive.
REPLY_LENGTHS: dict[int, int | None] = {
    0x80: 1,  # DATA_CNF
    0x84: 1,  # SET_MODE_CNF: status
    0x85: 1,  # RESET_CNF: status
    0x86: 1,  # SET_CHANNEL_CNF
    0x89: 1,  # SET_CNF: status
    0x8A: None,  # GET_CNF: offset, length, memory
    0x8B: 4,  # SERIALNO_CNF
    0x8C: 3,  # FWV_CNF: major, minor, patch
    0x8D: 1,  # RSSI_CNF
    0x90: 1,  # FACTORY_RESET_CNF (as documented for the AMB8426-M)
    0x91: 1,
}

LINK_MODE_CODES: dict[LinkMode, int] = {
    LinkMode.C1T1: 0x09,
    LinkMode.T1: 0x08,
    LinkMode.C1: 0x0E,
    LinkMode.S1: 0x03,
}
CODE_LINK_MODES = {v: k for k, v in LINK_MODE_CODES.items()}

PARAM_READ = bytes([0x00, 0x80])  # offset 0, up to 128 bytes
PARAM_RSSI_ENABLE = 0x45  # [unverified]
PARAM_MODE = 0x46  # [unverified]
PARAM_SIZE = 0x78  # what the AMB8465 returns


def checksum(data: bytes | bytearray) -> int:
    """XOR of all bytes."""
    return reduce(xor, data, 0)


def command_frame(cmd: int, payload: bytes = b"") -> bytes:
    """``FF cmd len payload cs``."""
    body = bytes([START, cmd, len(payload)]) + payload
    return body + bytes([checksum(body)])


def rssi_dbm(raw: int) -> float:
    """The RSSI byte (two's complement, half-dB steps) as dBm: signed(raw) / 2 - 74."""
    signed = raw - 256 if raw >= 128 else raw
    return signed / 2 - 74


def rssi_raw(dbm: float) -> int:
    """The RSSI byte for a level in dBm (for the emulator)."""
    return max(-128, min(127, round((dbm + 74) * 2))) & 0xFF


def mode_of_parameters(reply: bytes) -> LinkMode | None:
    """The link mode in a get-parameters reply payload (offset, length, memory)."""
    if len(reply) < 2 or reply[0] > PARAM_MODE:
        return None
    index = 2 + PARAM_MODE - reply[0]
    return CODE_LINK_MODES.get(reply[index]) if index < len(reply) else None


class CommandFramer(BufferFramer):
    """Amber command frames whose command is in ``commands``, each as a ReplyEvent keyed
    by the command (the emulator reads the host's commands with it)."""

    def __init__(self, commands: frozenset[int]) -> None:
        super().__init__()
        self.commands = commands

    def next_start(self, buf: bytearray, after: int) -> int:
        index = buf.find(START, after)
        return len(buf) if index < 0 else index

    def is_command_start(self, buf: bytearray, pos: int) -> bool:
        """Whether a command frame may start at ``pos`` (on the bytes there so far)."""
        return buf[pos] == START and (pos + 1 == len(buf) or buf[pos + 1] in self.commands)

    def length_plausible(self, cmd: int, length: int) -> bool:
        """Whether ``length`` may be the payload length of ``cmd``."""
        return True

    def parse(self, buf: bytearray) -> Parsed:
        if not self.is_command_start(buf, 0):
            return Scan.BAD
        if len(buf) < 3:
            return Scan.NEED_MORE
        if not self.length_plausible(buf[1], buf[2]):
            return Scan.BAD
        total = 4 + buf[2]
        if len(buf) < total:
            return Scan.NEED_MORE
        if checksum(buf[:total]):
            self.bad_frames += 1
            return Scan.BAD
        return total, ReplyEvent(buf[1], bytes(buf[3 : total - 1]))


class AmberFramer(CommandFramer):
    """Replies and telegrams from the module, telegrams in command or transparent form.

    A module sends its telegrams in one form only (its UART_CMD_Out_Enable setting). Once a
    checksummed ``FF 03`` telegram has come, transparent candidates are no longer tried:
    from its length byte on, every command frame also reads as a transparent frame that
    ends where the command frame ends, and would be taken for one after a resync."""

    def __init__(self) -> None:
        super().__init__(frozenset(REPLY_LENGTHS) | {CMD_DATA_IND})
        self.command_form = False  # a command-form telegram has been seen

    def reset(self) -> None:
        super().reset()
        self.command_form = False  # another stick, or one reconfigured, may be back

    def next_start(self, buf: bytearray, after: int) -> int:
        command = super().next_start(buf, after)
        if self.command_form:
            return command
        return min(command, next_telegram_start(buf, after))

    def length_plausible(self, cmd: int, length: int) -> bool:
        if cmd == CMD_DATA_IND:
            return length >= MIN_L + 1  # C ... CI and the RSSI
        expected = REPLY_LENGTHS.get(cmd)
        return expected is None or length == expected

    def _valid_command_at(self, buf: bytearray, pos: int) -> bool:
        """Whether a whole, checksum-valid command frame starts at ``pos``."""
        if pos + 3 > len(buf) or not self.is_command_start(buf, pos):
            return False
        cmd, length = buf[pos + 1], buf[pos + 2]
        end = pos + 4 + length
        if not self.length_plausible(cmd, length) or end > len(buf):
            return False
        if cmd == CMD_DATA_IND and buf[pos + 3] not in TELEGRAM_C_FIELDS:
            return False
        return checksum(buf[pos:end]) == 0

    def _overlaps_a_command(self, buf: bytearray, total: int) -> bool:
        """Whether a valid command frame starts inside the first ``total`` bytes.

        Then the candidate at the front is a truncated frame or noise running into it (a
        truncated ``FF 03`` passes the one-byte XOR one time in 256)."""
        pos = buf.find(START, 1, total)
        while pos >= 0:
            if self._valid_command_at(buf, pos):
                return True
            pos = buf.find(START, pos + 1, total)
        return False

    def _command_follows(self, buf: bytearray, pos: int) -> Follow | None:
        if not self.is_command_start(buf, pos):
            return None
        if self._valid_command_at(buf, pos):
            return Follow.YES
        length_known = pos + 3 <= len(buf)
        if length_known and not self.length_plausible(buf[pos + 1], buf[pos + 2]):
            return None
        if length_known and pos + 4 + buf[pos + 2] <= len(buf):
            return None  # whole but corrupt: perhaps a telegram after all
        return Follow.WAIT

    def parse(self, buf: bytearray) -> Parsed:
        if self.is_command_start(buf, 0):
            if len(buf) == 1:
                return Scan.NEED_MORE
            return self._command(buf)
        if self.command_form:
            return Scan.BAD
        # Transparent form: an L-framed telegram with the RSSI byte last.
        found = scan_l_frame(buf, 1, self._command_follows)
        if isinstance(found, Scan):
            return found
        if self._overlaps_a_command(buf, found):
            return Scan.BAD
        return found, TelegramEvent(raw=bytes(buf[: found - 1]), rssi_dbm=rssi_dbm(buf[found - 1]))

    def _command(self, buf: bytearray) -> Parsed:
        if buf[1] == CMD_DATA_IND and len(buf) > 3 and buf[3] not in TELEGRAM_C_FIELDS:
            return Scan.BAD
        parsed = super().parse(buf)
        if isinstance(parsed, Scan):
            return parsed
        total, event = parsed
        if self._overlaps_a_command(buf, total):
            self.bad_frames += 1
            return Scan.BAD
        if not isinstance(event, ReplyEvent) or event.key != CMD_DATA_IND:
            return parsed
        self.command_form = True
        body = event.payload  # C ... data RSSI: the module left out L
        raw = bytes([len(body) - 1]) + body[:-1]
        return total, TelegramEvent(raw=raw, rssi_dbm=rssi_dbm(body[-1]))


class Amb8465Driver(ModuleDriver):
    """Amber AMB8465 / Würth Metis-II sticks: link mode set volatile (no flash wear)."""

    name: ClassVar[str] = "amb8465"
    baudrate: ClassVar[int] = 9600
    # The Amber stick pauses inside a frame at times; only 2 s of silence makes a partial
    # frame stale.
    idle_gap: ClassVar[float] = 2.0

    read_back_mode: LinkMode | None = None  # the mode the parameter memory shows

    def make_framer(self) -> Framer:
        return AmberFramer()

    async def _command(self, cmd: int, payload: bytes = b"") -> bytes:
        wanted = cmd | REPLY_BIT
        reply = await self.request(command_frame(cmd, payload), lambda r: r.key == wanted)
        return reply.payload

    async def ping(self) -> bool:
        try:
            await self._command(CMD_SERIALNO_REQ)
        except TimeoutError:
            return False
        return True

    async def configure(self) -> None:
        serial = await self._command(CMD_SERIALNO_REQ)
        try:
            version = await self._command(CMD_FWV_REQ)
            firmware: str | None = ".".join(str(part) for part in version)
        except TimeoutError:
            firmware = None  # optional: not every firmware may know the command
        status = await self._command(CMD_SET_MODE_REQ, bytes([LINK_MODE_CODES[self.mode]]))
        if status != b"\x00":
            raise ModuleError(f"AMB8465 refused link mode {self.mode.value}: {status.hex()}")
        params = await self._command(CMD_GET_REQ, PARAM_READ)
        self.read_back_mode = mode_of_parameters(params)
        extra = {"parameter_mode": self.read_back_mode.value if self.read_back_mode else "?"}
        rssi_index = 2 + PARAM_RSSI_ENABLE
        if len(params) > rssi_index:
            extra["rssi_enable"] = str(params[rssi_index])
        if self.read_back_mode is not self.mode:
            log.warning(
                "AMB8465 on %s: parameter memory shows mode %s after setting %s",
                self.port_path,
                extra["parameter_mode"],
                self.mode.value,
            )
        self.info = ModuleInfo("AMB8465", firmware, serial.hex().upper(), extra)
        log.info("AMB8465 on %s listening in %s", self.port_path, self.mode.value)
