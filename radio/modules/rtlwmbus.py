"""rtl_wmbus: a software-defined radio decoder whose output lines are read from a path or
from a command (``rtl_sdr -f 868.625M -s 1.6e6 - | rtl_wmbus -s -f``).

Each line reads ``MODE;CRC_OK;3OUTOF6;YYYY-MM-DD HH:MM:SS.mmm;PKT_RSSI;CUR_RSSI;ID;0x<hex>``
(several telegrams may follow, each as another ``;0x<hex>``), or is a bare ``0x<hex>``.
The hex carries no link-layer CRCs. There is nothing to configure: rtl_wmbus hears C1 and
T1 at once and labels each telegram with the mode it came in.

``port`` is a path opened for reading (a pty, FIFO or file) or ``cmd:<shell command>``,
which is run and restarted with backoff whenever it exits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from protocols.backoff import Backoff
from radio.driver import Event, Framer, ModuleDriver, ModuleInfo, TelegramEvent
from radio.frame import LinkMode
from radio.process_transport import CMD_PREFIX, StableBackoff, open_source
from radio.transport import PortLostError

log = logging.getLogger(__name__)

MODES: dict[str, LinkMode] = {"T1": LinkMode.T1, "C1": LinkMode.C1, "S1": LinkMode.S1}
RSSI_FIELD = 4  # PKT_RSSI, counted from the MODE field
MIN_L = 9  # C M(2) A(6)
MAX_LINE = 65536  # a partial line longer than this is noise, not a telegram


@dataclass(frozen=True, slots=True)
class _Header:
    mode: LinkMode
    crc_ok: bool
    rssi_dbm: float | None


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


class RtlWmbusFramer:
    """rtl_wmbus output lines into telegrams.

    Unlike the binary framers, a partial line does not expire when the stream goes quiet:
    rtl_wmbus writes into a pipe through stdio, so a line may be cut at a buffer boundary
    and finished much later. Noise without a newline merges with the next line, where the
    tokens are still found.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.bad_frames = 0
        self.resyncs = 0

    def feed(self, data: bytes) -> list[Event]:
        """Every telegram on the lines ``data`` completed."""
        self._buf += data
        events: list[Event] = []
        while (end := self._buf.find(b"\n")) >= 0:
            line = bytes(self._buf[:end]).decode("latin-1")
            del self._buf[: end + 1]
            events.extend(self._line(line))
        if len(self._buf) > MAX_LINE:
            self._buf.clear()
            self.resyncs += 1
        return events

    def _line(self, line: str) -> list[TelegramEvent]:
        tokens = [token.strip() for token in line.split(";")]
        header: _Header | None = None
        events: list[TelegramEvent] = []
        recognised = False
        for i, token in enumerate(tokens):
            follows = tokens[i + 1] if i + 1 < len(tokens) else ""
            if token[-2:] in MODES and follows in ("0", "1"):
                rssi_at = i + RSSI_FIELD
                rssi = _float(tokens[rssi_at]) if rssi_at < len(tokens) else None
                header = _Header(MODES[token[-2:]], follows == "1", rssi)
                recognised = True
                continue
            at = token.lower().rfind("0x")
            if at < 0:
                continue
            recognised = True
            event = self._telegram(token[at + 2 :], header)
            if event is not None:
                events.append(event)
        if not recognised and line.strip():
            self.resyncs += 1
        return events

    def _telegram(self, hex_text: str, header: _Header | None) -> TelegramEvent | None:
        try:
            raw = bytes.fromhex(hex_text)
        except ValueError:
            self.bad_frames += 1
            return None
        if (
            len(raw) < MIN_L + 1
            or raw[0] != len(raw) - 1
            or (header is not None and not header.crc_ok)
        ):
            self.bad_frames += 1
            return None
        if header is None:
            return TelegramEvent(raw=raw, crc_present=None)
        # rtl_wmbus prints what it demodulated, with or without the link-layer CRCs by its
        # version and options: the pipeline detects them (crc_present None).
        return TelegramEvent(
            raw=raw, rssi_dbm=header.rssi_dbm, link_mode=header.mode, crc_present=None
        )

    def reset(self) -> None:
        """Forget a partial line (a restarted command starts with a fresh one)."""
        self._buf.clear()

    def expire(self) -> list[Event]:
        """Keep the partial line: see the class docstring."""
        return []

    @property
    def pending(self) -> int:
        """Bytes of a line not yet ended."""
        return len(self._buf)


class RtlWmbusDriver(ModuleDriver):
    """Telegrams decoded by rtl_wmbus, read from a path or a command's output.

    ``stable_after``: a command (or a FIFO writer) that ran for less than this many seconds
    before ending counts as failing, and its restarts back off instead of looping.
    """

    name: ClassVar[str] = "rtlwmbus"
    baudrate: ClassVar[int] = 0  # not a serial port

    def __init__(
        self,
        port: str,
        mode: LinkMode = LinkMode.C1,
        *,
        clock: Callable[[], float] = time.time,
        queue_size: int = 10_000,
        backoff: Backoff | None = None,
        stable_after: float = 10.0,
    ) -> None:
        super().__init__(port, mode, clock=clock, queue_size=queue_size, backoff=backoff)
        self._port = open_source(port, self._on_data)
        self._backoff = StableBackoff.like(self._backoff, stable_after)

    def make_framer(self) -> Framer:
        return RtlWmbusFramer()

    async def configure(self) -> None:
        """Nothing to send: check the stream is open and record the mode asked for."""
        if not self._port.is_open:
            raise PortLostError(f"{self.port_path} is not open")
        source = "command" if self.port_path.startswith(CMD_PREFIX) else "path"
        self.info = ModuleInfo("rtl_wmbus", extra={"source": source})
        log.info("rtl_wmbus on %s (%s requested)", self.port_path, self.mode.value)
