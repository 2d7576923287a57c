"""Turning status and info-code integers into the words of the decoded JSON.

Two kinds of lookup exist in meter documentation: a bit field, where every set bit is one
flag (``BitLookup``), and a small enumeration packed into a few bits, such as Kamstrup's
3-bit "how long has it been dry" durations (``IndexLookup``). Both are evaluated millions of
times a day on a gateway, so they are plain loops over precomputed tuples.

The transport-layer (TPL) status byte is decoded here too: meters report "power low" or
"permanent error" in it independently of their own error-flag records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class BitLookup:
    """Each set bit (within ``mask``) names one flag.

    The result is the names of the set bits separated by spaces, in bit order; set bits
    that have no name are reported together as ``<NAME>_<HEX>`` (``ERROR_FLAGS_800``) so
    that an unknown alarm is never silently dropped. With no bit set the result is
    ``default`` (``"OK"`` for status fields, ``""`` where the documentation gives none).
    """

    name: str
    bits: Mapping[int, str]  # bit value (1 << n) -> flag name
    mask: int = 0xFFFFFFFF
    default: str = ""
    _named: tuple[tuple[int, str], ...] = field(init=False, repr=False, compare=False)
    _known: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for bit in self.bits:
            if bit <= 0 or bit & (bit - 1):
                raise ValueError(f"{self.name}: {bit:#x} is not a single bit")
        named = tuple(sorted(self.bits.items()))
        object.__setattr__(self, "_named", named)
        known = 0
        for bit, _ in named:
            known |= bit
        object.__setattr__(self, "_known", known)

    def flags(self, value: int) -> list[str]:
        """The flags set in ``value`` (empty when none)."""
        value &= self.mask
        if not value:
            return []
        out = [name for bit, name in self._named if value & bit]
        unknown = value & ~self._known
        if unknown:
            out.append(f"{self.name}_{unknown:X}")
        return out

    def __call__(self, value: int) -> str:
        """The flags set in ``value`` joined by spaces, or ``default`` when none is."""
        return " ".join(self.flags(value)) or self.default


@dataclass(frozen=True, slots=True)
class IndexLookup:
    """The bits under ``mask`` form one number, and each number has a name.

    Used for the duration fields (``time_dry`` = ``"22-31 days"``): ``values`` maps the
    masked value (not shifted, as the manufacturer documents it) to its text. A value
    without a name is reported as ``<NAME>_<HEX>``.
    """

    name: str
    values: Mapping[int, str]
    mask: int

    def __post_init__(self) -> None:
        for value in self.values:
            if value & ~self.mask:
                raise ValueError(f"{self.name}: {value:#x} lies outside mask {self.mask:#x}")

    def __call__(self, value: int) -> str:
        """The name of the masked value."""
        masked = value & self.mask
        text = self.values.get(masked)
        return text if text is not None else f"{self.name}_{masked:X}"


Lookup = BitLookup | IndexLookup


def durations(name: str, mask: int) -> IndexLookup:
    """Kamstrup's 3-bit duration code under ``mask``: none, 1-8 hours, ..., 22-31 days."""
    shift = (mask & -mask).bit_length() - 1
    if mask >> shift != 0b111:
        raise ValueError(f"{name}: mask {mask:#x} is not three adjacent bits")
    texts = (
        *("", "1-8 hours", "9-24 hours", "2-3 days"),
        *("4-7 days", "8-14 days", "15-21 days", "22-31 days"),
    )
    return IndexLookup(name, {i << shift: text for i, text in enumerate(texts)}, mask)


# EN 13757-3 / -7 TPL status byte. Bits 0-1 are one two-bit application status (01 busy,
# 10 error, 11 alarm), so they cannot go through a BitLookup; bits 2-4 are single flags.
# Bits 5-7 are manufacturer specific and Kamstrup documents none of them for these meters:
# they are reported as TPL_STATUS_<HEX> rather than dropped.
_TPL_APPLICATION = ("", "BUSY", "ERROR", "ALARM")
_TPL_FLAGS = BitLookup(
    "TPL_STATUS",
    {0x04: "POWER_LOW", 0x08: "PERMANENT_ERROR", 0x10: "TEMPORARY_ERROR"},
    mask=0xFC,
)


def tpl_status_flags(status: int | None) -> list[str]:
    """The flags of a TPL status byte (``[]`` when it is absent or 0)."""
    if not status:
        return []
    out = _TPL_FLAGS.flags(status)
    application = _TPL_APPLICATION[status & 0x03]
    if application:
        out.append(application)
    return out


def join_status(flags: list[str]) -> str:
    """``status`` as printed: the flags sorted A-Z without duplicates, or ``OK``.

    ``OK`` and empty words coming from the parts are not flags and are dropped.
    """
    words = {word for part in flags for word in part.split(" ") if word and word != "OK"}
    return " ".join(sorted(words)) if words else "OK"
