"""Radiocrafts RC1180-MBUS (and the MBUS3 family): raw telegrams framed by L, 19200 8N1.

A received telegram is written as ``L C M A CI ... [RSSI]``: link-layer CRCs already
removed, the RSSI byte present when configuration register RSSI_MODE is 1. Nothing else
frames it, so the framer accepts an (L, C) candidate only when L is consistent with what
follows: the bytes after the frame and its RSSI are nothing yet, or another plausible
telegram start. Anything else is taken for garbage and skipped a byte at a time.

Configuration (Radiocrafts data sheet and MBUS user manual; not checked on hardware):
``00`` enters configuration mode, answered ``>``; ``0`` lists the 256 bytes of
configuration memory followed by ``>``; ``M`` (answered ``>``) takes address/value pairs
ended by address ``FF`` (answered ``>`` once the flash is rewritten); ``X`` leaves, with no
answer. The memory is non-volatile, so it is written only when it differs from what we want.
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import ClassVar

from radio.driver import (
    Event,
    Framer,
    ModuleDriver,
    ModuleError,
    ModuleInfo,
    ReplyEvent,
    TelegramEvent,
)
from radio.frame import LinkMode
from radio.framing import (
    BufferFramer,
    Follow,
    Parsed,
    Scan,
    next_telegram_start,
    scan_l_frame,
)

log = logging.getLogger(__name__)

ENTER_CONFIG = b"\x00"
PROMPT = 0x3E  # '>'
READ_MEMORY = b"0"
WRITE_MEMORY = b"M"
END_WRITE = 0xFF  # as an address: leave memory-write mode
LEAVE_CONFIG = b"X"
MEMORY_SIZE = 256

# Configuration memory addresses [unverified on hardware; Radiocrafts data sheet rev 1.0 and
# MBUS user manual 2.01]: MBUS_MODE, RSSI_MODE (1 = append RSSI to received telegrams).
MODE_REGISTER = 0x03
RSSI_REGISTER = 0x05
# MBUS_MODE values of the MBUS3 firmware [unverified]; the 2008 RC1180-MBUS data sheet knew
# only S1 = 0 and T1 = 1. Value 0x0A ("T1+C") receives both T1 and C1.
LINK_MODE_CODES: dict[LinkMode, int] = {
    LinkMode.S1: 0x03,
    LinkMode.T1: 0x01,
    LinkMode.C1: 0x09,
    LinkMode.C1T1: 0x0A,
}
CODE_LINK_MODES = {v: k for k, v in LINK_MODE_CODES.items()}

REPLY_PROMPT = "prompt"
REPLY_MEMORY = "memory"


def rssi_dbm(raw: int) -> float:
    """The RSSI byte as dBm: P = -RSSI / 2 (data sheet, typical) [unverified]."""
    return -raw / 2


def rssi_raw(dbm: float) -> int:
    """The RSSI byte for a level in dBm (for the emulator)."""
    return max(0, min(255, round(-dbm * 2)))


class Expect(Enum):
    """What the host waits for besides telegrams."""

    NOTHING = "nothing"
    PROMPT = "prompt"
    MEMORY = "memory"


class Rc1180Framer(BufferFramer):
    """Telegrams framed by L, and the prompts and memory dump of configuration mode.

    The prompt and the dump cannot be recognised by themselves, so the driver says which
    one it waits for (``expect``) before writing the command that brings it."""

    def __init__(self, rssi: bool = True) -> None:
        super().__init__()
        self.trailer = 1 if rssi else 0
        self.expect = Expect.NOTHING

    def reset(self) -> None:
        super().reset()
        self.expect = Expect.NOTHING

    def next_start(self, buf: bytearray, after: int) -> int:
        if self.expect is not Expect.NOTHING:
            return after if after <= len(buf) else len(buf)
        return next_telegram_start(buf, after)

    def parse(self, buf: bytearray) -> Parsed:
        if self.expect is Expect.MEMORY:
            if len(buf) < MEMORY_SIZE + 1:
                return Scan.NEED_MORE
            if buf[MEMORY_SIZE] != PROMPT:
                self.bad_frames += 1
                return Scan.BAD
            self.expect = Expect.NOTHING
            return MEMORY_SIZE + 1, ReplyEvent(REPLY_MEMORY, bytes(buf[:MEMORY_SIZE]))
        if self.expect is Expect.PROMPT and buf[0] == PROMPT:
            # The module sends nothing after its prompt; a '>' followed by a whole
            # consistent frame was that frame's L instead.
            found = Scan.BAD if len(buf) == 1 else scan_l_frame(buf, self.trailer, self._other)
            if found is Scan.NEED_MORE:
                return found
            if found is Scan.BAD:
                self.expect = Expect.NOTHING
                return 1, ReplyEvent(REPLY_PROMPT)
            return found, self._telegram(buf)
        found = scan_l_frame(buf, self.trailer, self._other)
        if isinstance(found, Scan):
            return found
        return found, self._telegram(buf)

    def _other(self, buf: bytearray, pos: int) -> Follow | None:
        # The prompt awaited, last on the line, vouches for the telegram before it.
        if self.expect is Expect.PROMPT and buf[pos] == PROMPT and pos + 1 == len(buf):
            return Follow.YES
        return None

    def _telegram(self, buf: bytearray) -> Event:
        frame_end = buf[0] + 1
        rssi = rssi_dbm(buf[frame_end]) if self.trailer else None
        return TelegramEvent(raw=bytes(buf[:frame_end]), rssi_dbm=rssi)


class Rc1180Driver(ModuleDriver):
    """Radiocrafts RC1180-MBUS: configures MBUS_MODE and RSSI_MODE, then listens."""

    name: ClassVar[str] = "rc1180"
    baudrate: ClassVar[int] = 19200
    # Rewriting the flash takes a while before the '>' comes back.
    request_timeout: ClassVar[float] = 2.0

    memory: bytes | None = None  # the configuration memory as last read
    memory_writes: int = 0  # how often this driver rewrote the module's flash

    @property
    def _rc_framer(self) -> Rc1180Framer:
        assert isinstance(self._framer, Rc1180Framer)
        return self._framer

    def make_framer(self) -> Framer:
        return Rc1180Framer(rssi=True)

    async def _command(self, data: bytes, expect: Expect) -> ReplyEvent:
        wanted = REPLY_MEMORY if expect is Expect.MEMORY else REPLY_PROMPT
        self._rc_framer.expect = expect  # set before writing: the answer may come at once
        try:
            return await self.request(data, lambda reply: reply.key == wanted)
        except TimeoutError:
            self._rc_framer.expect = Expect.NOTHING
            raise

    async def _read_memory(self) -> bytes:
        return (await self._command(READ_MEMORY, Expect.MEMORY)).payload

    async def configure(self) -> None:
        code = LINK_MODE_CODES[self.mode]
        await self._command(ENTER_CONFIG, Expect.PROMPT)
        try:
            memory = await self._read_memory()
            wanted = {MODE_REGISTER: code, RSSI_REGISTER: 0x01}
            changes = {a: v for a, v in wanted.items() if memory[a] != v}
            if changes:
                # Non-volatile: written only when needed, so restarts do not wear the flash.
                await self._command(WRITE_MEMORY, Expect.PROMPT)
                pairs = b"".join(bytes([a, v]) for a, v in sorted(changes.items()))
                await self._command(pairs + bytes([END_WRITE]), Expect.PROMPT)
                self.memory_writes += 1
                memory = await self._read_memory()
        finally:
            self.write(LEAVE_CONFIG)  # no prompt follows 'X'
        self.memory = memory
        read_back = CODE_LINK_MODES.get(memory[MODE_REGISTER])
        if read_back is not self.mode or memory[RSSI_REGISTER] != 0x01:
            raise ModuleError(
                f"RC1180 reads back MBUS_MODE 0x{memory[MODE_REGISTER]:02X} and RSSI_MODE "
                f"{memory[RSSI_REGISTER]}, not {self.mode.value} with RSSI"
            )
        self.info = ModuleInfo(
            "RC1180-MBUS",
            extra={
                "mbus_mode": f"0x{memory[MODE_REGISTER]:02X}",
                "rssi_mode": str(memory[RSSI_REGISTER]),
            },
        )
        log.info("RC1180 on %s listening in %s", self.port_path, self.mode.value)
