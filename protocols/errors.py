"""The one exception family the parsers raise.

Every parser in ``protocols`` raises :class:`DecodeError` (or a subclass) for bad input and
nothing else; callers may rely on that (the fuzz tests check it).
"""

from __future__ import annotations


class DecodeError(Exception):
    """A telegram (or a part of one) could not be decoded.

    ``offset`` is the byte position in the input where the problem was found, when known;
    ``meter_id`` and ``manufacturer`` carry what was already known of the sender so that an
    operator can tell which meter is at fault.
    """

    def __init__(
        self,
        reason: str,
        *,
        offset: int | None = None,
        meter_id: str | None = None,
        manufacturer: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset
        self.meter_id = meter_id
        self.manufacturer = manufacturer

    def __str__(self) -> str:
        where = f" at byte {self.offset}" if self.offset is not None else ""
        return f"{self.reason}{where}"

    def with_sender(self, meter_id: str | None, manufacturer: str | None) -> DecodeError:
        """Fill in the sender when a lower layer raised without knowing it; returns self."""
        if self.meter_id is None:
            self.meter_id = meter_id
        if self.manufacturer is None:
            self.manufacturer = manufacturer
        return self


class TruncatedError(DecodeError):
    """The input ended before the structure it announced."""


class FormatError(DecodeError):
    """A field holds a value the standard does not allow here."""


class CrcError(DecodeError):
    """A link-layer or payload CRC does not match."""


class UnsupportedError(DecodeError):
    """Valid by the standard, but not something this decoder handles (yet)."""


class NoKeyError(DecodeError):
    """The payload is encrypted and no key is configured for the meter."""


class WrongKeyError(DecodeError):
    """The payload did not decrypt (or authenticate) with the configured key."""


class NotEncryptedError(DecodeError):
    """A key is configured but the payload arrived in clear: refused, it may be forged."""


class ReplayError(DecodeError):
    """An authenticated message counter did not advance: a replayed telegram."""


class UnknownCompactFormatError(DecodeError):
    """A compact frame whose format signature matches no known or learnt layout."""
