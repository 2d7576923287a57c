"""CUL / nanoCUL sticks running culfw: a line protocol over 38400 8N1.

Commands are text lines: ``brc``/``brt``/``brs`` select wireless M-Bus C, T or S mode and
are answered ``CMODE``/``TMODE``/``SMODE``; ``X21`` makes culfw append LQI and RSSI to every
received telegram; ``V`` returns a version line naming the CUL. A received telegram is one
line ``b<hex>[<LQI><RSSI>]``; the prefix ``bY`` marks frame format B, otherwise it is format
A. The hex still carries the link-layer CRCs: the driver hands them on (``crc_present``)
and checks them only to count and drop corrupt frames.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from protocols.errors import DecodeError
from protocols.wmbus.link import FrameFormat, format_a_length, strip_crcs
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
from radio.framing import BufferFramer, Parsed, Scan

log = logging.getLogger(__name__)

MODE_COMMANDS: dict[LinkMode, bytes] = {
    LinkMode.C1: b"brc\r\n",
    LinkMode.T1: b"brt\r\n",
    LinkMode.S1: b"brs\r\n",
}
MODE_REPLIES: dict[LinkMode, str] = {
    LinkMode.C1: "CMODE",
    LinkMode.T1: "TMODE",
    LinkMode.S1: "SMODE",
}
REPORT_RSSI = b"X21\r\n"
VERSION = b"V\r\n"
KEY_MODE = "mode"
KEY_VERSION = "version"
KEY_LINE = "line"
MIN_FRAME = 12  # L C M(2) A(6) and the first block's CRC
C1T1_REFUSED = "culfw has no combined C1+T1 mode: configure c1 or t1"


def rssi_dbm(raw: int) -> float:
    """culfw's RSSI byte as dBm: signed(raw) / 2 - 74."""
    signed = raw - 256 if raw >= 128 else raw
    return signed / 2 - 74


def rssi_raw(dbm: float) -> int:
    """The RSSI byte for a level in dBm (what culfw sends; for the emulator)."""
    signed = max(-128, min(127, round((dbm + 74) * 2)))
    return signed & 0xFF


def _frame_format_of(raw: bytes, marked_b: bool) -> tuple[FrameFormat, bool] | None:
    """Which layout ``raw`` has and whether LQI/RSSI follow it, judged by its length.

    culfw appends LQI and RSSI only after ``X21``; the L field tells both cases apart, so
    telegrams heard before the host's ``X21`` took effect are not lost.
    """
    if len(raw) < MIN_FRAME:
        return None
    expected = raw[0] + 1 if marked_b else format_a_length(raw[0])
    fmt = FrameFormat.B if marked_b else FrameFormat.A
    if len(raw) == expected + 2:
        return fmt, True
    if len(raw) == expected:
        return fmt, False
    return None


class CulFramer(BufferFramer):
    """culfw lines: telegrams become TelegramEvents, everything else a ReplyEvent."""

    def __init__(self, check_crcs: bool = True) -> None:
        super().__init__()
        self.check_crcs = check_crcs

    def next_start(self, buf: bytearray, after: int) -> int:
        # A line starts at the front or just after a newline.
        if after == 0:
            return 0
        index = buf.find(b"\n", after - 1)
        return len(buf) if index < 0 else index + 1

    def parse(self, buf: bytearray) -> Parsed:
        end = buf.find(b"\n")
        if end < 0:
            return Scan.NEED_MORE
        line = bytes(buf[:end]).decode("latin-1").strip()
        return end + 1, self._line_event(line)

    def _line_event(self, line: str) -> Event | None:
        if not line:
            return None
        for kind in MODE_REPLIES.values():
            if line.endswith(kind):
                return ReplyEvent(KEY_MODE, kind.encode())
        if "CUL" in line:
            return ReplyEvent(KEY_VERSION, line.encode())
        if "b" in line:
            event = self._telegram(line)
            if event is not None:
                return event
            self.bad_frames += 1
            return None
        return ReplyEvent(KEY_LINE, line.encode())

    def _telegram(self, line: str) -> TelegramEvent | None:
        # Garbage without a newline merges with the line after it: try every 'b' from the
        # left, so a telegram behind a truncated one or behind noise is still found.
        start = line.find("b")
        while start >= 0:
            event = self._decode(line[start:])
            if event is not None:
                if start:
                    self.resyncs += 1
                return event
            start = line.find("b", start + 1)
        return None

    def _decode(self, text: str) -> TelegramEvent | None:
        marked_b = text.startswith("bY")
        try:
            data = bytes.fromhex(text[2:] if marked_b else text[1:])
        except ValueError:
            return None
        layout = _frame_format_of(data, marked_b)
        if layout is None:
            return None
        fmt, has_rssi = layout
        raw = data[:-2] if has_rssi else data
        if self.check_crcs:
            try:
                _, found = strip_crcs(raw)
            except DecodeError:
                return None
            if found is not fmt:
                return None
        return TelegramEvent(
            raw=raw,
            rssi_dbm=rssi_dbm(data[-1]) if has_rssi else None,
            frame_format=fmt,
            crc_present=True,
        )


class CulDriver(ModuleDriver):
    """CUL and nanoCUL sticks with culfw; C1, T1 or S1 (no combined C1+T1)."""

    name: ClassVar[str] = "cul"
    baudrate: ClassVar[int] = 38400

    def make_framer(self) -> Framer:
        return CulFramer()

    async def start(self, start_timeout: float = 10.0) -> None:
        """Refuse C1+T1 at once: retrying could never make culfw accept it."""
        if self.mode is LinkMode.C1T1:
            raise ModuleError(C1T1_REFUSED)
        await super().start(start_timeout)

    async def _version(self) -> str:
        reply = await self.request(VERSION, lambda r: r.key == KEY_VERSION)
        return reply.payload.decode("latin-1")

    async def ping(self) -> bool:
        try:
            await self._version()
        except TimeoutError:
            return False
        return True

    async def configure(self) -> None:
        if self.mode is LinkMode.C1T1:
            raise ModuleError(C1T1_REFUSED)
        version = await self._version()
        self.info = _module_info(version)
        self.write(REPORT_RSSI)  # culfw does not answer X commands
        wanted = MODE_REPLIES[self.mode].encode()
        reply = await self.request(MODE_COMMANDS[self.mode], lambda r: r.key == KEY_MODE)
        if reply.payload != wanted:
            raise ModuleError(f"culfw answered {reply.payload!r} to the {self.mode} command")
        log.info("%s on %s listening in %s", self.info.module, self.port_path, self.mode.value)


def _module_info(version: str) -> ModuleInfo:
    """``V 1.67 nanoCUL868`` -> module nanoCUL868, firmware 1.67."""
    words = version.split()
    module = next((w for w in words if "CUL" in w), "CUL")
    firmware = next((w for w in words if w[:1].isdigit()), None)
    return ModuleInfo(module, firmware=firmware, extra={"version": version})
