"""What the wired master delivers to the pipeline: one slave's answer to one poll.

Pure data and decoding, no I/O (the pipeline imports it, as it imports
:class:`radio.frame.RadioFrame`). A multi-telegram answer (DIF 0x1F, "more records
follow", EN 13757-3) is kept as its long frames, in order; :func:`merged_telegram` makes
them one telegram.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

from protocols.errors import FormatError
from protocols.mbus.application import (
    CI_FIXED,
    CI_FIXED_MSB,
    CI_VARIABLE,
    CI_VARIABLE_MSB,
    parse_fixed,
    parse_variable_header,
)
from protocols.mbus.fixed_records import fixed_meter
from protocols.mbus.frames import LongFrame, build_frame
from protocols.telegram import MeterAddress, Telegram
from protocols.wmbus.decoder import TelegramDecoder

LINK_MODE: Final = "mbus"  # the link_mode of every wired reading
HEADER_LENGTH: Final = 12  # EN 13757-3 variable data header: id, M, version, medium, ...
_DIF_MORE_FOLLOWS: Final = bytes((0x1F,))


def answer_address(frame: LongFrame) -> MeterAddress:
    """The meter a RSP_UD long frame comes from: its variable-data header's id,
    manufacturer, version and medium (EN 13757-3; CI 0x72, or 0x76 with the id and
    manufacturer most significant byte first), or a fixed-data answer's id and medium
    (CI 0x73 / 0x77: no manufacturer, no version). Raises DecodeError."""
    if frame.CI in (CI_FIXED, CI_FIXED_MSB):
        return fixed_meter(parse_fixed(frame.CI, frame.data))
    if frame.CI not in (CI_VARIABLE, CI_VARIABLE_MSB):
        raise FormatError(f"wired answer CI 0x{frame.CI:02X} carries no meter's data")
    header = parse_variable_header(frame.data, msb_first=frame.CI == CI_VARIABLE_MSB)
    return MeterAddress(header.manufacturer_code, header.id, header.version, header.medium)


@dataclass(frozen=True, slots=True)
class WiredAnswer:
    """One poll's answer: the slave's long frames in order, when they came, from where."""

    frames: tuple[LongFrame, ...]
    timestamp: float  # gateway time the (last) answer arrived
    bus: str  # the port of the bus, e.g. /dev/ttyUSB1
    address: str  # as polled: a primary address ("5") or 16 hex digits (secondary)
    interval_s: float | None = None  # the meter's poll interval (None: read on demand)

    def sender(self) -> MeterAddress:
        """The meter that answered (the first frame's header). Raises DecodeError."""
        if not self.frames:
            raise FormatError("wired answer without frames")
        return answer_address(self.frames[0])

    def raw(self) -> bytes:
        """The frames as they were on the line, back to back."""
        return b"".join(build_frame(f) for f in self.frames)


def merged_telegram(frames: Sequence[LongFrame], decoder: TelegramDecoder) -> Telegram:
    """One telegram from a multi-telegram answer: the first frame's header, the records of
    every frame in order (the bare DIF 0x1F markers dropped). Every frame must come from
    the same meter. Raises DecodeError.

    Decoded telegrams, not parsed application data (``protocols.mbus.application.merge``):
    a wired meter's telegrams may be encrypted (TPL mode 5), which the decoder undoes with
    the tenant's key."""
    if not frames:
        raise FormatError("no frames to decode")
    telegrams = [decoder.decode(build_frame(f)) for f in frames]
    first = telegrams[0]
    if len(telegrams) == 1:
        return first
    for index, telegram in enumerate(telegrams[1:], start=2):
        if telegram.meter != first.meter:
            raise FormatError(
                f"telegram {index} of the answer is from {telegram.meter.key}, "
                f"not {first.meter.key}"
            )
    for index, telegram in enumerate(telegrams[:-1], start=1):
        if not telegram.records or telegram.records[-1].header != _DIF_MORE_FOLLOWS:
            raise FormatError(f"telegram {index} of the answer does not announce more (0x1F)")
    # The 0x1F markers go; one that carries manufacturer bytes after it stays (as data).
    records = tuple(
        r for t in telegrams for r in t.records if r.header != _DIF_MORE_FOLLOWS or r.data
    )
    payload = b"".join(f.data[HEADER_LENGTH:] for f in frames)
    warnings = tuple(w for t in telegrams for w in t.warnings)
    # The newest status is the last telegram's (the slave's state when the readout ended).
    return replace(
        first, records=records, payload=payload, warnings=warnings, status=telegrams[-1].status
    )
