"""Secondary addressing of wired M-Bus (EN 13757-3, selection with CI 0x52).

The 8-byte secondary address is the slave's own identity: identification number (8 BCD
digits, least significant byte first), manufacturer (the M field), version and medium.
In a selection pattern a nibble F of the id matches any digit there, and FFFF (M), FF
(version) and FF (medium) match anything.

:class:`SecondaryScan` is the wildcard tree scan as a pure state machine: it proposes a
pattern, the caller selects with it and reports what came back; it never touches a port.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import product
from typing import Final

from construct import Bytes, Int8ul, Int16ul, Struct

from protocols.errors import FormatError, TruncatedError
from protocols.wmbus.address import manufacturer_code, manufacturer_field

WILDCARD_DIGIT: Final = "F"
WILDCARD_MANUFACTURER: Final = 0xFFFF
WILDCARD_BYTE: Final = 0xFF
ID_DIGITS: Final = 8

# EN 13757-3, the fixed part of the variable data header / the selection data of CI 0x52.
SecondaryAddressFormat = Struct(
    "id" / Bytes(4),  # 8 BCD digits, least significant byte first; nibble F = any digit
    "manufacturer" / Int16ul,  # three 5-bit letters; FFFF = any
    "version" / Int8ul,  # FF = any
    "medium" / Int8ul,  # FF = any
)


@dataclass(frozen=True, slots=True)
class SecondaryAddress:
    """An 8-byte secondary address or selection pattern.

    ``id`` is printed most significant digit first (``"7634879F"``), F marking a wildcard
    digit; ``manufacturer`` is the raw M field (0xFFFF for any).
    """

    id: str
    manufacturer: int = WILDCARD_MANUFACTURER
    version: int = WILDCARD_BYTE
    medium: int = WILDCARD_BYTE

    def __post_init__(self) -> None:
        if len(self.id) != ID_DIGITS or any(c not in "0123456789ABCDEF" for c in self.id):
            raise FormatError(f"secondary id must be 8 hex digits, not {self.id!r}")
        if not 0 <= self.manufacturer <= 0xFFFF:
            raise FormatError(f"manufacturer field must be 16 bits, not {self.manufacturer}")
        for name, value in (("version", self.version), ("medium", self.medium)):
            if not 0 <= value <= 0xFF:
                raise FormatError(f"{name} must be a byte, not {value}")

    @classmethod
    def of(
        cls,
        meter_id: str,
        manufacturer: str | None = None,
        version: int = WILDCARD_BYTE,
        medium: int = WILDCARD_BYTE,
    ) -> SecondaryAddress:
        """From the printed id and the three-letter manufacturer (None = any)."""
        m = WILDCARD_MANUFACTURER if manufacturer is None else manufacturer_field(manufacturer)
        return cls(meter_id.upper(), m, version, medium)

    @property
    def manufacturer_code(self) -> str | None:
        """The three-letter manufacturer, or None for the wildcard."""
        if self.manufacturer == WILDCARD_MANUFACTURER:
            return None
        return manufacturer_code(self.manufacturer)

    @property
    def is_pattern(self) -> bool:
        """True when any part is a wildcard."""
        return (
            WILDCARD_DIGIT in self.id
            or self.manufacturer == WILDCARD_MANUFACTURER
            or self.version == WILDCARD_BYTE
            or self.medium == WILDCARD_BYTE
        )


ANY: Final = SecondaryAddress("F" * ID_DIGITS)


def build_secondary(address: SecondaryAddress) -> bytes:
    """The 8 wire bytes of an address or pattern."""
    return bytes(
        SecondaryAddressFormat.build(
            {
                "id": bytes.fromhex(address.id)[::-1],
                "manufacturer": address.manufacturer,
                "version": address.version,
                "medium": address.medium,
            }
        )
    )


def parse_secondary(raw: bytes) -> SecondaryAddress:
    """An address or pattern from its 8 wire bytes."""
    if len(raw) < 8:
        raise TruncatedError(f"a secondary address has 8 bytes, got {len(raw)}", offset=len(raw))
    if len(raw) > 8:
        raise FormatError("trailing bytes after the secondary address", offset=8)
    parsed = SecondaryAddressFormat.parse(raw)
    return SecondaryAddress(
        bytes(parsed.id)[::-1].hex().upper(), parsed.manufacturer, parsed.version, parsed.medium
    )


def matches(address: SecondaryAddress, pattern: SecondaryAddress) -> bool:
    """Whether a slave with ``address`` answers a selection with ``pattern``."""
    if any(p != WILDCARD_DIGIT and p != a for a, p in zip(address.id, pattern.id, strict=True)):
        return False
    return (
        pattern.manufacturer in (WILDCARD_MANUFACTURER, address.manufacturer)
        and pattern.version in (WILDCARD_BYTE, address.version)
        and pattern.medium in (WILDCARD_BYTE, address.medium)
    )


class Outcome(enum.Enum):
    """What a selection with a pattern brought back."""

    NONE = "none"  # no answer in the window: no slave matches
    ONE = "one"  # one clean E5 and, after REQ_UD2, one slave's address
    COLLISION = "collision"  # a garbled answer, or several: more than one slave matches


def all_manufacturers() -> list[int]:
    """Every M field spelling three letters A-Z (26**3 values), in alphabetical order."""
    letters = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    return [manufacturer_field("".join(t)) for t in product(letters, repeat=3)]


class SecondaryScan:
    """The wildcard tree scan (a depth-first walk of the address tree).

    Drive it with::

        while (pattern := scan.next_pattern()) is not None:
            outcome, address = probe(pattern)   # select, then REQ_UD2 when one answered
            scan.report(outcome, address)

    A collision refines the pattern: the first wildcard id digit is tried with 0..9, the
    most significant digit first. That is what libmbus and pyMeterBus do (their mask is the
    printed id, walked from position 0); it is chosen here for the count, not for
    correctness (any order finds every slave): the meters of one installation usually come
    from one delivery with consecutive serial numbers, which share their leading digits, so
    fixing those first reaches dense subtrees where nearly every probe finds a slave (250
    consecutive ids cost 341 probes this way, 1,111 least significant digit first; for
    uniformly random ids the digits are exchangeable and the order makes no difference on
    average). Once the id is fully given, the manufacturer is tried with each candidate,
    then the version and the medium with 0x00-0xFE.

    ``manufacturers`` narrows the candidates for the manufacturer level (by default every
    three-letter code, 17,576 probes for each colliding id: complete but slow on the wire).

    Two lists say what the walk could not settle. ``unresolved``: a pattern with nothing
    left to refine that still collides, i.e. slaves with the same 8-byte address, which no
    selection tells apart. ``unexplained``: a collision that fewer than two of its children
    answered: noise garbled a single answer, or a slave no refinement can select (a non-BCD
    id digit A-E, which is not tried since the standard allows 0-9; version or medium 0xFF,
    the wildcard value); the master may probe those again. ``report(Outcome.ONE)``
    without the address, or with one outside the pattern, is refined like a collision: an
    answer that cannot be checked is not trusted to be alone.
    """

    def __init__(
        self,
        start: SecondaryAddress = ANY,
        manufacturers: Iterable[int] | None = None,
    ) -> None:
        # Depth-first: each entry is a pattern and the index of its parent in _nodes.
        self._stack: list[tuple[SecondaryAddress, int | None]] = [(start, None)]
        self._current: tuple[SecondaryAddress, int | None] | None = None
        # A collided pattern with [children not yet reported, slaves its children showed].
        self._nodes: list[tuple[SecondaryAddress, list[int]]] = []
        self._manufacturers: Sequence[int] | None = (
            None if manufacturers is None else list(manufacturers)
        )
        self.found: list[SecondaryAddress] = []
        self._found_set: set[SecondaryAddress] = set()
        self.unresolved: list[SecondaryAddress] = []
        self.unexplained: list[SecondaryAddress] = []
        self.probes = 0
        self.collisions = 0

    @property
    def done(self) -> bool:
        """True when every branch has been probed."""
        return self._current is None and not self._stack

    def next_pattern(self) -> SecondaryAddress | None:
        """The next pattern to select with, or None when the scan is over.

        Asking again before reporting returns the same pattern.
        """
        if self._current is None:
            if not self._stack:
                return None
            self._current = self._stack.pop()
            self.probes += 1
        return self._current[0]

    def report(self, outcome: Outcome, address: SecondaryAddress | None = None) -> None:
        """The outcome of the probe with the current pattern (``address`` with ONE)."""
        if self._current is None:
            raise RuntimeError("report() without a pattern from next_pattern()")
        pattern, parent = self._current
        self._current = None
        if outcome is Outcome.ONE and (
            address is None or address.is_pattern or not matches(address, pattern)
        ):
            # An answer outside the pattern (a slave that did not match but answered, or a
            # corrupt address) cannot be trusted to be alone: refine as for a collision.
            outcome = Outcome.COLLISION
        if outcome is Outcome.ONE and address is not None and address not in self._found_set:
            self._found_set.add(address)
            self.found.append(address)
        if outcome is Outcome.COLLISION:
            self.collisions += 1
            children = self._refine(pattern)
            if children:
                self._nodes.append((pattern, [len(children), 0]))
                index = len(self._nodes) - 1
                # Reversed so that the stack pops them in ascending order.
                self._stack.extend((child, index) for child in reversed(children))
            else:
                self.unresolved.append(pattern)
        if parent is not None:
            parent_pattern, counts = self._nodes[parent]
            counts[0] -= 1
            # A colliding child holds two slaves or more, a clean answer one.
            counts[1] += {Outcome.NONE: 0, Outcome.ONE: 1, Outcome.COLLISION: 2}[outcome]
            if counts[0] == 0 and counts[1] < 2:
                self.unexplained.append(parent_pattern)

    def _refine(self, pattern: SecondaryAddress) -> list[SecondaryAddress]:
        position = pattern.id.find(WILDCARD_DIGIT)
        if position >= 0:
            head, tail = pattern.id[:position], pattern.id[position + 1 :]
            return [replace(pattern, id=f"{head}{d}{tail}") for d in "0123456789"]
        if pattern.manufacturer == WILDCARD_MANUFACTURER:
            candidates = self._manufacturers
            if candidates is None:
                candidates = self._manufacturers = all_manufacturers()
            return [
                replace(pattern, manufacturer=m) for m in candidates if m != WILDCARD_MANUFACTURER
            ]
        if pattern.version == WILDCARD_BYTE:
            return [replace(pattern, version=v) for v in range(WILDCARD_BYTE)]
        if pattern.medium == WILDCARD_BYTE:
            return [replace(pattern, medium=v) for v in range(WILDCARD_BYTE)]
        return []
