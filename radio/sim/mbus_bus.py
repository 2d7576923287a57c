"""An emulated wired M-Bus on a pty: a level converter with N slaves behind it.

The master (``bus.transport``) opens the pty's slave end as it would /dev/ttyUSB0. A
thread frames what the master sends with the project's own link layer
(:mod:`protocols.mbus`) and answers as the slaves would (EN 13757-2/-3):

- SND_NKE to a primary address: E5 (and the slave's FCB expectation and telegram
  sequence are reset); to 253: every selected slave is deselected (no answer).
- REQ_UD2: RSP_UD long frames (C 0x08, CI 0x72, the 12-byte variable-data header: id BCD,
  manufacturer, version, medium, access number, status, signature 0000) with records made
  by :func:`protocols.records.build.encode_scaled`; optionally split over several
  telegrams, every one but the last ending with DIF 0x1F. A toggled FCB moves to the next
  telegram; the same FCB repeats the last answer (the master's retry).
- SND_UD CI 0x52 to 253: selection by an 8-byte pattern with wildcards; every matching
  slave is selected and answers E5, every other one is deselected.
- SND_UD CI 0xB8-0xBF (no data): a baud-rate switch; the slave answers E5 and records the
  rate (``baud``; a pty carries bytes at any rate, so nothing else changes).
- Several answers at once (a collision): ``collision="merge"`` ORs the answers byte by
  byte, as the current-modulated line would (identical E5s stay a clean E5; frames become
  a frame with a wrong checksum, forced wrong when the OR happens to sum right);
  ``collision="garbage"`` sends bytes that start no frame.
- Slow slaves (``delay_s``), silent slaves, answers lost (``lose``) or corrupted
  (``corrupt``) a number of times, and a converter that echoes every byte (``echo``).

Each slave records the C fields it received (``c_fields``), for FCB checks.

A pty delivers bytes at once, whatever the rate. ``line_rate=True`` makes them take their
time on the line, 11 bits a character at the rate the master set on the port (read from
the pty's termios, which both ends share): a request is handled that long after its bytes
are read, an answer is written :data:`PACE_CHARACTERS` characters at a time, each when
its last character would have arrived. Off by default.
"""

from __future__ import annotations

import contextlib
import os
import select
import termios
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from protocols.mbus.framer import Framer
from protocols.mbus.frames import (
    ADDRESS_NETWORK,
    C_FCB,
    C_FCV,
    C_REQ_UD2,
    C_RSP_UD,
    C_SND_NKE,
    C_SND_UD,
    CI_BAUD_RATE_BASE,
    CI_SELECTION,
    LongFrame,
    ShortFrame,
    baud_rate_of_ci,
    build_long,
    build_single,
)
from protocols.mbus.secondary import SecondaryAddress, matches, parse_secondary
from protocols.records.build import encode_manufacturer_data, encode_scaled
from protocols.wmbus.address import manufacturer_field
from radio.sim.pty import PtyDevice

CI_RSP_UD_LONG: Final = 0x72
GARBAGE: Final = bytes([0x3C, 0xA7, 0x5B, 0x01])  # no E5, 10 or 68: starts no frame
PACE_CHARACTERS: Final = 4  # line_rate: an answer is written this many characters at a time
_TERMIOS_BAUD: Final = {getattr(termios, f"B{b}"): b for b in (300, 600, 1200, 2400, 4800, 9600)}

Collision = Literal["merge", "garbage"]


@dataclass
class EmulatedSlave:
    """One slave: primary address, secondary identity, and its data.

    ``telegrams`` holds one list of ``(DIF VIF header, value in canonical units)`` per
    telegram of the answer (``encode_scaled``); more than one splits the answer with DIF
    0x1F. ``primary`` None: reachable by secondary address only.
    """

    id: str
    manufacturer: str = "ABB"
    version: int = 1
    medium: int = 0x07
    primary: int | None = None
    telegrams: list[list[tuple[bytes, float | int]]] = field(
        default_factory=lambda: [[(b"\x04\x13", 1.234)]]
    )
    status: int = 0
    baud: int = 2400  # the rate a baud-rate switch (CI 0xB8-0xBF) last set
    delay_s: float = 0.0  # a slow slave answers this late
    silent: bool = False  # never answers
    lose: int = 0  # answers computed but not sent (lost on the line), this many times
    corrupt: int = 0  # answers sent with a wrong checksum, this many times
    # State the bus changes:
    selected: bool = False
    c_fields: list[int] = field(default_factory=list)
    access_number: int = 0
    _index: int = -1
    _last_fcb: bool | None = None
    _last_answer: bytes = b""

    @property
    def secondary(self) -> SecondaryAddress:
        """The 8-byte secondary address."""
        return SecondaryAddress(
            self.id, manufacturer_field(self.manufacturer), self.version, self.medium
        )

    def reset_link(self) -> None:
        """SND_NKE: the next REQ_UD2 starts the answer from its first telegram."""
        self._last_fcb = None
        self._index = -1

    def long_frame(self, index: int, a: int) -> bytes:
        """Telegram ``index`` of the answer as a RSP_UD long frame."""
        more = index < len(self.telegrams) - 1
        records = b"".join(encode_scaled(h, v) for h, v in self.telegrams[index])
        if more:
            records += encode_manufacturer_data(b"", more_follows=True)
        header = (
            bytes.fromhex(self.id)[::-1]
            + manufacturer_field(self.manufacturer).to_bytes(2, "little")
            + bytes([self.version, self.medium, self.access_number & 0xFF, self.status])
            + b"\x00\x00"
        )
        return build_long(C_RSP_UD, a, CI_RSP_UD_LONG, header + records)

    def answer_ud2(self, c: int, a: int) -> bytes:
        """The answer to REQ_UD2 with C field ``c`` (the FCB decides: next or again)."""
        fcb = bool(c & C_FCB)
        fcv = bool(c & C_FCV)
        if fcv and self._last_fcb is not None and fcb == self._last_fcb and self._last_answer:
            return self._last_answer  # the master repeats: so does the slave
        self._index = (self._index + 1) % len(self.telegrams)
        self.access_number += 1
        self._last_fcb = fcb if fcv else None
        self._last_answer = self.long_frame(self._index, a)
        return self._last_answer


def _merge(answers: Sequence[bytes]) -> bytes:
    """Overlapping answers: the byte-wise OR, with a frame's checksum forced wrong."""
    size = max(len(a) for a in answers)
    merged = bytearray(size)
    for answer in answers:
        for i, b in enumerate(answer):
            merged[i] |= b
    if len(set(answers)) > 1 and size >= 6 and merged[0] == 0x68:
        length = merged[1]
        if 4 + length + 2 <= size:
            cs_at = 4 + length
            if sum(merged[4:cs_at]) & 0xFF == merged[cs_at]:
                merged[cs_at] ^= 0x01
    return bytes(merged)


class MbusBusEmulator:
    """A level converter with slaves behind it, on a pty (``path``: what the master opens)."""

    def __init__(
        self,
        slaves: Sequence[EmulatedSlave],
        *,
        echo: bool = False,
        collision: Collision = "merge",
        link_path: str | os.PathLike[str] | None = None,
        line_rate: bool = False,
    ) -> None:
        self.slaves = list(slaves)
        self.echo = echo
        self.collision: Collision = collision
        self.line_rate = line_rate
        self.device = PtyDevice(link_path)
        self.requests: list[bytes] = []  # every frame the master sent, as received
        self.collisions = 0
        self._framer = Framer()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)

    @property
    def path(self) -> str:
        """The pty path the master opens."""
        return str(self.device.link_path)

    def start(self) -> MbusBusEmulator:
        """Open the pty and start answering."""
        self.device.plug()
        self._thread = threading.Thread(target=self._run, name="mbus-bus", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and close the pty (idempotent)."""
        self._stop_thread()
        self.device.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_r = self._wake_w = -1

    def _stop_thread(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def unplug(self) -> None:
        """The converter pulled out: the port goes (the master's reads fail), the slaves
        keep their state."""
        self._stop_thread()
        self.device.unplug()

    def replug(self) -> None:
        """The converter plugged back in: a new pty at the same path, answering again."""
        self._stop.clear()
        with contextlib.suppress(OSError):
            while os.read(self._wake_r, 64):  # the stop's wake-up byte
                pass
        self._framer = Framer()
        self.start()

    def __enter__(self) -> MbusBusEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def slave(self, primary: int) -> EmulatedSlave:
        """The slave at a primary address."""
        return next(s for s in self.slaves if s.primary == primary)

    # -- the thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            master = self.device.master
            if master is None:
                return
            try:
                readable, _, _ = select.select([master, self._wake_r], [], [], 0.5)
            except (OSError, ValueError):
                return
            if self._wake_r in readable or master not in readable:
                continue
            data = self.device.read()
            if not data:
                time.sleep(0.005)  # the host has the port closed (POLLHUP): look again
                continue
            if self.line_rate:
                time.sleep(len(data) * self._character_s())  # the request on the line
            if self.echo:
                self.device.write(data)
            for frame in self._framer.feed(data):
                self._handle(frame)

    def _handle(self, frame: object) -> None:
        if isinstance(frame, ShortFrame):
            self.requests.append(bytes([0x10, frame.C, frame.A]))
            self._short(frame)
        elif isinstance(frame, LongFrame):
            self.requests.append(bytes([0x68, frame.C, frame.A, frame.CI]) + frame.data)
            self._long(frame)

    def _addressed(self, a: int) -> list[EmulatedSlave]:
        if a == ADDRESS_NETWORK:
            return [s for s in self.slaves if s.selected]
        return [s for s in self.slaves if s.primary == a]

    def _short(self, frame: ShortFrame) -> None:
        function = frame.C & ~(C_FCB | C_FCV)
        slaves = self._addressed(frame.A)
        for slave in slaves:
            slave.c_fields.append(frame.C)
        if frame.C == C_SND_NKE:
            if frame.A == ADDRESS_NETWORK:
                for slave in slaves:
                    slave.selected = False
                return
            for slave in slaves:
                slave.reset_link()
            self._answer([(s, build_single()) for s in slaves])
        elif function == C_REQ_UD2 & ~(C_FCB | C_FCV):
            self._answer([(s, s.answer_ud2(frame.C, frame.A)) for s in slaves])

    def _long(self, frame: LongFrame) -> None:
        if CI_BAUD_RATE_BASE <= frame.CI <= CI_BAUD_RATE_BASE + 7 and not frame.data:
            # A baud-rate switch: acknowledged (at the old rate), then the slave's rate.
            slaves = self._addressed(frame.A)
            for slave in slaves:
                slave.c_fields.append(frame.C)
                slave.baud = baud_rate_of_ci(frame.CI)
            self._answer([(s, build_single()) for s in slaves])
            return
        if frame.A != ADDRESS_NETWORK or frame.CI != CI_SELECTION:
            return
        if frame.C & ~C_FCB != C_SND_UD or len(frame.data) != 8:
            return
        try:
            pattern = parse_secondary(frame.data)
        except Exception:
            return
        chosen: list[EmulatedSlave] = []
        for slave in self.slaves:
            slave.selected = matches(slave.secondary, pattern)
            if slave.selected:
                slave.c_fields.append(frame.C)
                slave.reset_link()  # a new selection: a new link
                chosen.append(slave)
        self._answer([(s, build_single()) for s in chosen])

    def _answer(self, answers: list[tuple[EmulatedSlave, bytes]]) -> None:
        sent: list[bytes] = []
        delay = 0.0
        for slave, answer in answers:
            if slave.silent:
                continue
            if slave.lose > 0:
                slave.lose -= 1
                continue
            if slave.corrupt > 0 and len(answer) > 2:
                slave.corrupt -= 1
                answer = answer[:-2] + bytes([answer[-2] ^ 0xFF]) + answer[-1:]
            delay = max(delay, slave.delay_s)
            sent.append(answer)
        if not sent:
            return
        if len(sent) > 1:
            self.collisions += 1
            data = GARBAGE if self.collision == "garbage" else _merge(sent)
        else:
            data = sent[0]
        if delay:
            time.sleep(delay)
        self._write(data)

    def _character_s(self) -> float:
        """Seconds a character takes at the rate the master set (0 when unknown)."""
        master = self.device.master
        try:
            baud = _TERMIOS_BAUD.get(termios.tcgetattr(master)[5]) if master is not None else None
        except termios.error:
            baud = None
        return 11 / baud if baud else 0.0

    def _write(self, data: bytes) -> None:
        """An answer onto the line: at once, or paced at the line rate (``line_rate``)."""
        if not self.line_rate:
            self.device.write(data)
            return
        character, start = self._character_s(), time.monotonic()
        for i in range(0, len(data), PACE_CHARACTERS):
            chunk = data[i : i + PACE_CHARACTERS]
            wait = start + (i + len(chunk)) * character - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self.device.write(chunk)


def demo_fleet(count: int, seed: int = 0) -> list[EmulatedSlave]:
    """``count`` wired heat and water meters at primary addresses 1..count (the demo's bus:
    ``concentratord simulate --mbus-slaves``), their values from ``seed``. Every fifth
    answers in two telegrams (DIF 0x1F)."""
    import random

    if not 0 <= count <= 250:
        raise ValueError(f"a wired bus holds 0-250 primary addresses, not {count}")
    rng = random.Random(seed)
    fleet: list[EmulatedSlave] = []
    for n in range(1, count + 1):
        heat = n % 2 == 1
        first: list[tuple[bytes, float | int]]
        second: list[tuple[bytes, float | int]]
        if heat:
            first = [
                (b"\x04\x06", rng.randint(1000, 90000)),  # energy, kWh
                (b"\x04\x13", rng.randint(10**4, 10**6) / 1000),  # volume, m3
            ]
            second = [(b"\x02\x5b", rng.randint(55, 80)), (b"\x02\x5f", rng.randint(25, 45))]
        else:
            first = [(b"\x04\x13", rng.randint(10**4, 10**7) / 1000)]
            second = [(b"\x02\x5b", rng.randint(8, 20))]  # water temperature
        telegrams = [first, second] if n % 5 == 0 else [first + second]
        fleet.append(
            EmulatedSlave(
                f"{40000000 + seed % 1000 * 1000 + n:08d}",
                manufacturer="KAM" if heat else "SEN",
                version=0x01,
                medium=0x04 if heat else 0x07,
                primary=n,
                telegrams=telegrams,
            )
        )
    return fleet
