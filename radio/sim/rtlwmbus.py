"""rtl_wmbus on a pty: prints one output line per telegram heard, as the decoder does
(it takes no commands)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import ClassVar

from radio.frame import LinkMode
from radio.sim.emulator import ModuleEmulator


def rtl_line(
    frames: Sequence[bytes],
    rssi_dbm: float = -70.0,
    link_mode: LinkMode = LinkMode.C1,
    *,
    crc_ok: bool = True,
    when: float = 0.0,
    bare: bool = False,
) -> bytes:
    """The rtl_wmbus output line for ``frames`` (without CRCs) heard together.

    ``bare``: just ``0x<hex>``, as some builds print; otherwise the full
    ``MODE;CRC_OK;3OUTOF6;TIME;PKT_RSSI;CUR_RSSI;ID`` header comes first.
    """
    telegrams = ";".join("0x" + frame.hex() for frame in frames)
    if bare:
        return telegrams.encode() + b"\n"
    stamp = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    meter_id = frames[0][4:8][::-1].hex() if frames and len(frames[0]) >= 8 else "00000000"
    three_of_six = 1 if link_mode is LinkMode.T1 else 0  # T1 is 3-out-of-6 coded
    header = (
        f"{link_mode.value.upper()};{int(crc_ok)};{three_of_six};{stamp};"
        f"{rssi_dbm:g};{rssi_dbm - 10:g};{meter_id}"
    )
    return f"{header};{telegrams}\n".encode()


class RtlWmbusEmulator(ModuleEmulator):
    """rtl_wmbus printing to a pty; ``bare`` prints ``0x<hex>`` lines only."""

    name: ClassVar[str] = "rtlwmbus"
    baudrate: ClassVar[int] = 0

    def __init__(
        self,
        link_path: str | os.PathLike[str] | None = None,
        *,
        bare: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(link_path)
        self.bare = bare
        self.clock = clock

    def on_bytes(self, data: bytes) -> None:
        self.commands.append(data)  # rtl_wmbus reads no commands; kept for inspection

    def encode_telegram(self, frame: bytes, rssi_dbm: float, link_mode: LinkMode) -> bytes:
        return rtl_line([frame], rssi_dbm, link_mode, when=self.clock(), bare=self.bare)

    def deliver_line(
        self,
        frames: Sequence[bytes],
        rssi_dbm: float = -70.0,
        link_mode: LinkMode = LinkMode.C1,
        *,
        crc_ok: bool = True,
    ) -> bool:
        """Several telegrams (or one with ``crc_ok=False``) on one output line."""
        line = rtl_line(frames, rssi_dbm, link_mode, crc_ok=crc_ok, when=self.clock())
        ok = self.send(line)
        if ok:
            self.sent += len(frames)
        return ok
