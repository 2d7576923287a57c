"""A rawtty source on a pty: telegrams written bare (L C M A ..., no CRCs, no RSSI), or as
hex text lines with ``hex_stream=True``. It takes no commands."""

from __future__ import annotations

import os
from typing import ClassVar

from radio.frame import LinkMode
from radio.sim.emulator import ModuleEmulator


class RawTtyEmulator(ModuleEmulator):
    """Bare telegrams on a serial line; ``hex_stream``: one hex line per telegram, with
    ``prefix`` (e.g. ``"0x"``) before the digits."""

    name: ClassVar[str] = "rawtty"
    baudrate: ClassVar[int] = 9600

    def __init__(
        self,
        link_path: str | os.PathLike[str] | None = None,
        *,
        hex_stream: bool = False,
        prefix: str = "",
    ) -> None:
        super().__init__(link_path)
        self.hex_stream = hex_stream
        self.prefix = prefix

    def on_bytes(self, data: bytes) -> None:
        self.commands.append(data)  # nothing is answered; kept for inspection

    def encode_telegram(self, frame: bytes, rssi_dbm: float, link_mode: LinkMode) -> bytes:
        if not self.hex_stream:
            return frame
        return f"{self.prefix}{frame.hex().upper()}\r\n".encode()
