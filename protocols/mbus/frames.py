"""EN 13757-2 link layer of wired M-Bus: the four frame formats and the master's requests.

Clause 5 (data link layer) of EN 13757-2 defines, after the FT 1.2 formats of IEC 60870-5:

* the single character ``E5`` (a slave's acknowledgement);
* the short frame ``10 C A CS 16``;
* the control frame ``68 L L 68 C A CI CS 16`` (L = 3) and the long frame
  ``68 L L 68 C A CI data CS 16`` (L > 3).

L counts the bytes from C to the end of the data (so the frame is 4 + L + 2 bytes long);
CS is the arithmetic sum of C .. data modulo 256. Parsers raise only
:class:`~protocols.errors.DecodeError` subclasses: :class:`TruncatedError` when the input
ends early, :class:`CrcError` for a checksum mismatch, :class:`FormatError` for everything
else (L fields differ, start or stop byte wrong, trailing bytes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from construct import Bytes, Const, Int8ul, Rebuild, Struct, this

from protocols.errors import CrcError, FormatError, TruncatedError

SINGLE_CHARACTER: Final = 0xE5
START_SHORT: Final = 0x10
START_LONG: Final = 0x68
STOP: Final = 0x16

SHORT_FRAME_LENGTH: Final = 5
LONG_HEADER_LENGTH: Final = 4  # 68 L L 68
MIN_L: Final = 3  # C A CI: a control frame
MAX_L: Final = 255
MAX_FRAME_LENGTH: Final = LONG_HEADER_LENGTH + MAX_L + 2


def checksum(data: bytes) -> int:
    """EN 13757-2 clause 5: the arithmetic sum of the bytes modulo 256 (C .. data)."""
    return sum(data) & 0xFF


# EN 13757-2 clause 5, figure "short frame": start, C, A, check sum, stop.
ShortFrameFormat = Struct(
    "start" / Const(bytes([START_SHORT])),
    "C" / Int8ul,
    "A" / Int8ul,
    "CS" / Rebuild(Int8ul, lambda ctx: checksum(bytes([ctx.C, ctx.A]))),
    "stop" / Const(bytes([STOP])),
)


def _long_checksum(ctx: Any) -> int:
    return checksum(bytes([ctx.C, ctx.A, ctx.CI]) + bytes(ctx.data))


# EN 13757-2 clause 5, figure "long frame" (the control frame is the same with no data):
# start, L, L, start, C, A, CI, user data (0..252 bytes), check sum, stop.
LongFrameFormat = Struct(
    "start" / Const(bytes([START_LONG])),
    "L" / Rebuild(Int8ul, lambda ctx: MIN_L + len(ctx.data)),
    "L2" / Rebuild(Int8ul, this.L),  # repeated L: the receiver compares them
    "start2" / Const(bytes([START_LONG])),
    "C" / Int8ul,
    "A" / Int8ul,
    "CI" / Int8ul,
    "data" / Bytes(this.L - MIN_L),
    "CS" / Rebuild(Int8ul, _long_checksum),
    "stop" / Const(bytes([STOP])),
)

# EN 13757-2 clause 5, the C field: bit 6 PRM (1 = master to slave), bit 5 FCB (frame
# count bit, toggled per successful REQ/SND), bit 4 FCV (FCB valid), bits 3-0 function.
C_FCB: Final = 0x20
C_FCV: Final = 0x10
C_SND_NKE: Final = 0x40  # link reset (also resets the slave's FCB expectation)
C_SND_UD: Final = 0x53  # send user data (FCV set); 0x73 with FCB
C_REQ_UD1: Final = 0x5A  # request class 1 (alarm) data; 0x7A with FCB
C_REQ_UD2: Final = 0x5B  # request class 2 (user) data; 0x7B with FCB
C_RSP_UD: Final = 0x08  # slave's answer (bit 5 ACD, bit 4 DFC may be set)

# EN 13757-3 table "CI field" (master to slave codes used by the link master).
CI_APPLICATION_RESET: Final = 0x50
CI_DATA_SEND: Final = 0x51
CI_SELECTION: Final = 0x52
CI_BAUD_RATE_BASE: Final = 0xB8
BAUD_RATES: Final[tuple[int, ...]] = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400)

# EN 13757-2 clause 5, the A field (primary address).
ADDRESS_MAX_PRIMARY: Final = 250  # 0 (unconfigured) .. 250 are slaves
ADDRESS_NETWORK: Final = 253  # the slave selected by secondary address (network layer)
ADDRESS_BROADCAST_REPLY: Final = 254  # every slave answers: collisions, for tests only
ADDRESS_BROADCAST: Final = 255  # every slave acts, none answers


def address_kind(address: int) -> str:
    """What a primary address means: ``primary``, ``reserved``, ``network``,
    ``broadcast_reply`` or ``broadcast`` (EN 13757-2 clause 5)."""
    _check_byte(address, "address")
    if address <= ADDRESS_MAX_PRIMARY:
        return "primary"
    if address < ADDRESS_NETWORK:
        return "reserved"
    return {
        ADDRESS_NETWORK: "network",
        ADDRESS_BROADCAST_REPLY: "broadcast_reply",
        ADDRESS_BROADCAST: "broadcast",
    }[address]


@dataclass(frozen=True, slots=True)
class SingleCharacter:
    """The ``E5`` acknowledgement."""

    kind = "single"


@dataclass(frozen=True, slots=True)
class ShortFrame:
    """``10 C A CS 16``."""

    C: int  # field names as in the standard
    A: int
    kind = "short"


@dataclass(frozen=True, slots=True)
class LongFrame:
    """``68 L L 68 C A CI data CS 16``; a control frame when ``data`` is empty."""

    C: int
    A: int
    CI: int
    data: bytes = b""

    @property
    def kind(self) -> str:
        """``control`` (L = 3) or ``long``."""
        return "control" if not self.data else "long"

    @property
    def L(self) -> int:  # noqa: N802
        """The L field: C, A, CI and the data."""
        return MIN_L + len(self.data)


Frame = SingleCharacter | ShortFrame | LongFrame


def _check_byte(value: int, what: str) -> None:
    if not 0 <= value <= 0xFF:
        raise FormatError(f"{what} must be a byte (0-255), not {value}")


# -- builders ------------------------------------------------------------------------------


def build_single() -> bytes:
    """The single character ``E5``."""
    return bytes([SINGLE_CHARACTER])


def build_short(c: int, a: int) -> bytes:
    """A short frame ``10 C A CS 16``."""
    _check_byte(c, "C")
    _check_byte(a, "A")
    return bytes(ShortFrameFormat.build({"C": c, "A": a}))


def build_long(c: int, a: int, ci: int, data: bytes = b"") -> bytes:
    """A long frame (or, with no data, a control frame)."""
    _check_byte(c, "C")
    _check_byte(a, "A")
    _check_byte(ci, "CI")
    if len(data) > MAX_L - MIN_L:
        raise FormatError(f"at most {MAX_L - MIN_L} data bytes fit a long frame, not {len(data)}")
    return bytes(LongFrameFormat.build({"C": c, "A": a, "CI": ci, "data": bytes(data)}))


def build_control(c: int, a: int, ci: int) -> bytes:
    """A control frame ``68 03 03 68 C A CI CS 16``."""
    return build_long(c, a, ci)


def build_frame(frame: Frame) -> bytes:
    """The wire bytes of a parsed frame."""
    if isinstance(frame, SingleCharacter):
        return build_single()
    if isinstance(frame, ShortFrame):
        return build_short(frame.C, frame.A)
    return build_long(frame.C, frame.A, frame.CI, frame.data)


# -- parsers -------------------------------------------------------------------------------


def parse_single(raw: bytes) -> SingleCharacter:
    """The single character; anything but exactly ``E5`` is refused."""
    if not raw:
        raise TruncatedError("empty input, expected E5", offset=0)
    if raw[0] != SINGLE_CHARACTER:
        raise FormatError(f"single character must be E5, not {raw[0]:02X}", offset=0)
    if len(raw) != 1:
        raise FormatError("trailing bytes after E5", offset=1)
    return SingleCharacter()


def parse_short(raw: bytes) -> ShortFrame:
    """A short frame ``10 C A CS 16`` (exactly 5 bytes)."""
    if raw[:1] and raw[0] != START_SHORT:
        raise FormatError(f"short frame must start with 10, not {raw[0]:02X}", offset=0)
    if len(raw) < SHORT_FRAME_LENGTH:
        raise TruncatedError(f"short frame needs 5 bytes, got {len(raw)}", offset=len(raw))
    if len(raw) > SHORT_FRAME_LENGTH:
        raise FormatError("trailing bytes after the short frame", offset=SHORT_FRAME_LENGTH)
    if raw[4] != STOP:
        raise FormatError(f"stop byte must be 16, not {raw[4]:02X}", offset=4)
    if checksum(raw[1:3]) != raw[3]:
        raise CrcError(f"checksum {raw[3]:02X}, computed {checksum(raw[1:3]):02X}", offset=3)
    parsed = ShortFrameFormat.parse(raw)
    return ShortFrame(C=parsed.C, A=parsed.A)


def long_frame_length(header: bytes) -> int:
    """The whole frame length announced by a long-frame header (at least ``68 L``)."""
    return LONG_HEADER_LENGTH + header[1] + 2


def check_long_header(raw: bytes) -> None:
    """Refuse a long-frame header that cannot start a frame (needs 4 bytes)."""
    if raw[0] != START_LONG:
        raise FormatError(f"long frame must start with 68, not {raw[0]:02X}", offset=0)
    if raw[1] != raw[2]:
        raise FormatError(f"L fields differ ({raw[1]:02X} and {raw[2]:02X})", offset=2)
    if raw[3] != START_LONG:
        raise FormatError(f"second start byte must be 68, not {raw[3]:02X}", offset=3)
    if raw[1] < MIN_L:
        raise FormatError(f"L must be at least 3 (C A CI), not {raw[1]}", offset=1)


def parse_long(raw: bytes) -> LongFrame:
    """A long or control frame ``68 L L 68 C A CI data CS 16`` (exactly 4 + L + 2 bytes)."""
    if raw[:1] and raw[0] != START_LONG:
        raise FormatError(f"long frame must start with 68, not {raw[0]:02X}", offset=0)
    if len(raw) < LONG_HEADER_LENGTH:
        raise TruncatedError("long frame header needs 4 bytes", offset=len(raw))
    check_long_header(raw)
    size = long_frame_length(raw)
    if len(raw) < size:
        raise TruncatedError(f"L announces {size} bytes, got {len(raw)}", offset=len(raw))
    if len(raw) > size:
        raise FormatError("trailing bytes after the long frame", offset=size)
    if raw[-1] != STOP:
        raise FormatError(f"stop byte must be 16, not {raw[-1]:02X}", offset=size - 1)
    computed = checksum(raw[4:-2])
    if computed != raw[-2]:
        raise CrcError(f"checksum {raw[-2]:02X}, computed {computed:02X}", offset=size - 2)
    parsed = LongFrameFormat.parse(raw)
    return LongFrame(C=parsed.C, A=parsed.A, CI=parsed.CI, data=bytes(parsed.data))


def parse_control(raw: bytes) -> LongFrame:
    """A control frame: a long frame with L = 3."""
    frame = parse_long(raw)
    if frame.data:
        raise FormatError(f"control frame has L = 3, not {frame.L}", offset=1)
    return frame


def parse_frame(raw: bytes) -> Frame:
    """Any one frame, told apart by its first byte."""
    if not raw:
        raise TruncatedError("empty input", offset=0)
    if raw[0] == SINGLE_CHARACTER:
        return parse_single(raw)
    if raw[0] == START_SHORT:
        return parse_short(raw)
    if raw[0] == START_LONG:
        return parse_long(raw)
    raise FormatError(f"no frame starts with {raw[0]:02X}", offset=0)


# -- the master's requests (EN 13757-2 clause 5, EN 13757-3 CI table) ----------------------


def _fcb(c: int, fcb: bool) -> int:
    return c | C_FCB if fcb else c


def snd_nke(address: int) -> bytes:
    """SND_NKE: link reset of one slave (short frame, C 0x40); the slave answers E5."""
    return build_short(C_SND_NKE, address)


def req_ud2(address: int, fcb: bool) -> bytes:
    """REQ_UD2: request user data (C 0x5B, 0x7B with FCB). A retry keeps the same FCB so
    the slave repeats its last answer; the next request toggles it."""
    return build_short(_fcb(C_REQ_UD2, fcb), address)


def req_ud1(address: int, fcb: bool) -> bytes:
    """REQ_UD1: request alarm (class 1) data (C 0x5A, 0x7A with FCB)."""
    return build_short(_fcb(C_REQ_UD1, fcb), address)


def snd_ud(address: int, ci: int, data: bytes, fcb: bool) -> bytes:
    """SND_UD: send user data (C 0x53, 0x73 with FCB); control frame when data is empty."""
    return build_long(_fcb(C_SND_UD, fcb), address, ci, data)


def data_send(address: int, data: bytes, fcb: bool) -> bytes:
    """SND_UD with CI 0x51: data records to the slave."""
    return snd_ud(address, CI_DATA_SEND, data, fcb)


def application_reset(address: int, fcb: bool, subcode: int | None = None) -> bytes:
    """SND_UD with CI 0x50: application reset, optionally with the one-byte subcode."""
    if subcode is not None:
        _check_byte(subcode, "subcode")
    return snd_ud(address, CI_APPLICATION_RESET, b"" if subcode is None else bytes([subcode]), fcb)


def select_secondary(pattern: bytes, fcb: bool = False) -> bytes:
    """SND_UD with CI 0x52 to address 253: select the slave(s) matching an 8-byte secondary
    address (wildcards allowed); those that match answer E5 and become "selected"."""
    if len(pattern) != 8:
        raise FormatError(f"a secondary address has 8 bytes, not {len(pattern)}")
    return snd_ud(ADDRESS_NETWORK, CI_SELECTION, pattern, fcb)


def baud_rate_ci(baud: int) -> int:
    """The CI (0xB8-0xBF) that switches a slave to ``baud``."""
    try:
        return CI_BAUD_RATE_BASE + BAUD_RATES.index(baud)
    except ValueError:
        raise FormatError(f"M-Bus baud rates are {BAUD_RATES}, not {baud}") from None


def baud_rate_of_ci(ci: int) -> int:
    """The baud rate a CI 0xB8-0xBF switches to."""
    if not CI_BAUD_RATE_BASE <= ci <= CI_BAUD_RATE_BASE + 7:
        raise FormatError(f"CI {ci:02X} is not a baud-rate switch (B8-BF)")
    return BAUD_RATES[ci - CI_BAUD_RATE_BASE]


def set_baud_rate(address: int, baud: int, fcb: bool = False) -> bytes:
    """SND_UD control frame with CI 0xB8-0xBF; the slave acknowledges (E5) at the old rate
    and then talks at the new one."""
    return snd_ud(address, baud_rate_ci(baud), b"", fcb)
