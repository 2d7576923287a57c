"""A CUL / nanoCUL with culfw on a pty: answers ``V``, ``X21`` and the mode commands, and
prints received telegrams as ``b``/``bY`` lines with their link-layer CRCs."""

from __future__ import annotations

import os
import threading
from typing import ClassVar

from protocols.wmbus.link import FrameFormat, add_crcs
from radio.frame import LinkMode
from radio.modules.cul import rssi_raw
from radio.sim.emulator import ModuleEmulator

COMMAND_MODES: dict[str, tuple[LinkMode, str]] = {
    "brc": (LinkMode.C1, "CMODE"),
    "brt": (LinkMode.T1, "TMODE"),
    "brs": (LinkMode.S1, "SMODE"),
}
NANOCUL_MAX_FRAME = 148  # bytes on air, CRCs included: culfw's receive buffer


class CulEmulator(ModuleEmulator):
    """culfw on a nanoCUL: C1 frames in format B (or A, ``c1_format``), T1/S1 in format A.

    Telegrams longer than ``max_frame`` bytes on air are not delivered (``too_long`` counts
    them), as a nanoCUL cannot receive them.
    """

    name: ClassVar[str] = "cul"
    baudrate: ClassVar[int] = 38400

    def __init__(
        self,
        link_path: str | os.PathLike[str] | None = None,
        *,
        version: str = "V 1.67 nanoCUL868",
        c1_format: FrameFormat = FrameFormat.B,
        max_frame: int | None = NANOCUL_MAX_FRAME,
        lqi: int = 0x30,
    ) -> None:
        super().__init__(link_path)
        self.version = version
        self.c1_format = c1_format
        self.max_frame = max_frame
        self.lqi = lqi
        self.report_rssi = False  # culfw appends LQI and RSSI only after X21
        self.too_long = 0
        self._line = bytearray()
        self._state_lock = threading.Lock()

    def reset_protocol_state(self) -> None:
        with self._state_lock:
            self._line.clear()
            self.report_rssi = False

    def on_bytes(self, data: bytes) -> None:
        with self._state_lock:
            self._line += data
            lines = []
            while (end := self._line.find(b"\n")) >= 0:
                lines.append(bytes(self._line[:end]).decode("latin-1").strip())
                del self._line[: end + 1]
        for line in lines:
            if line:
                self.commands.append(line.encode())
                self._command(line)

    def _command(self, line: str) -> None:
        if line in COMMAND_MODES:
            mode, answer = COMMAND_MODES[line]
            self.mode = mode
            self.send(answer.encode() + b"\r\n")
        elif line == "V":
            self.send(self.version.encode() + b"\r\n")
        elif line.startswith("X"):
            # X<hex>: report flags; 0x20 asks for RSSI (and LQI) after each telegram.
            try:
                flags = int(line[1:], 16)
            except ValueError:
                flags = 0
            self.report_rssi = bool(flags & 0x20)
        else:
            self.send(f"? ({line} is unknown)\r\n".encode())

    def frame_format(self, link_mode: LinkMode) -> FrameFormat:
        """The on-air layout this emulator uses for a telegram heard in ``link_mode``."""
        return self.c1_format if link_mode is LinkMode.C1 else FrameFormat.A

    def deliver(
        self, frame: bytes, rssi_dbm: float = -70.0, link_mode: LinkMode | None = None
    ) -> bool:
        """As the base, but a nanoCUL drops telegrams too long for its buffer."""
        mode = link_mode or (LinkMode.C1 if self.mode in (None, LinkMode.C1) else self.mode)
        on_air = add_crcs(frame, self.frame_format(mode))
        if self.max_frame is not None and len(on_air) > self.max_frame:
            self.too_long += 1
            return False
        return super().deliver(frame, rssi_dbm, mode)

    def encode_telegram(self, frame: bytes, rssi_dbm: float, link_mode: LinkMode) -> bytes:
        fmt = self.frame_format(link_mode)
        data = add_crcs(frame, fmt)
        if self.report_rssi:
            data += bytes([self.lqi, rssi_raw(rssi_dbm)])
        prefix = "bY" if fmt is FrameFormat.B else "b"
        return f"{prefix}{data.hex().upper()}\r\n".encode()
