"""``[[mbus]]``: wired M-Bus buses the gateway polls itself (config/README.md, "[[mbus]]";
decision 0011).

Each table is one level converter on a serial port with the meters behind it: each
``[[mbus.meter]]`` is polled at its primary address (0-250) or selected by its secondary
address (the 16 hex digits ``concentratord mbus scan --secondary`` prints: the 8 bytes as
sent on the wire), every ``interval`` gateway seconds (the bus's, unless the meter gives its
own), at the bus's line rate unless the meter gives its own.
"""

from __future__ import annotations

import os
from typing import Annotated, Final, Literal

from pydantic import Field, model_validator

from concentratord.config.field_view import Duration
from concentratord.config.sections import KeyedError, Section
from protocols.mbus.secondary import SecondaryAddress, parse_secondary

PRIMARY_MAX: Final = 250  # EN 13757-2: 0 unconfigured, 1-250 primary, 251-255 reserved
# 250 unit loads per converter; repeaters take a bus to 1,250 slaves (the figure).
METERS_MAX: Final = 1250
Baud = Literal[300, 2400, 9600]


def secondary_of(text: str) -> SecondaryAddress:
    """The secondary address in ``text`` (16 hex digits, wire order), ValueError if it is
    not one or holds a wildcard."""
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 8:
        raise ValueError(f"expected 16 hex digits, as `mbus scan --secondary` prints: {text!r}")
    try:
        address = parse_secondary(raw)
    except Exception as err:  # parse_secondary's DecodeError
        raise ValueError(f"{text!r} is not a secondary address: {err}") from None
    if address.is_pattern:
        raise ValueError(f"{text!r} holds a wildcard: a poll names one meter")
    if not address.id.isdigit():
        raise ValueError(f"{text!r}: the id (its first 8 digits) must be decimal (BCD)")
    return address


def parse_meter_address(text: str) -> int | str:
    """A primary address (up to three digits, 0-250) or a secondary one (16 hex digits,
    returned in upper case), as the command lines take them; ValueError otherwise."""
    text = text.strip()
    if text.isdigit() and len(text) <= 3:  # 16 digits are a secondary address, even decimal
        if int(text) > PRIMARY_MAX:
            raise ValueError(f"a primary address is 0-{PRIMARY_MAX}, got {text}")
        return int(text)
    secondary_of(text)
    return text.upper()


class MbusMeterConfig(Section):
    """``[[mbus.meter]]``: one wired meter and how often it is read."""

    # A primary address (0-250) or a secondary address (16 hex digits, wire order).
    address: int | str
    # Gateway seconds between polls; None: the bus's interval.
    interval: Annotated[Duration, Field(ge=60, le=7 * 86_400)] | None = None
    # The meter's line rate, when it differs from the bus's.
    baud: Baud | None = None

    @model_validator(mode="after")
    def _address(self) -> MbusMeterConfig:
        if isinstance(self.address, int):
            if not 0 <= self.address <= PRIMARY_MAX:
                raise KeyedError(
                    "address", f"a primary address is 0-{PRIMARY_MAX}, got {self.address}"
                )
        else:
            try:
                secondary_of(self.address)
            except ValueError as err:
                raise KeyedError("address", str(err)) from None
        return self

    @property
    def label(self) -> str:
        """The address as status, logs and readings name it (secondary upper-case)."""
        return str(self.address) if isinstance(self.address, int) else self.address.upper()


class MbusConfig(Section):
    """``[[mbus]]``: one level converter, its line and its meters."""

    port: str
    baud: Baud = 2400
    # Added to the standard's answer window (330 bit times + 50 ms) for USB converters.
    answer_margin_ms: Annotated[int, Field(ge=0, le=2000)] = 100
    # A request that brings no (or a bad) answer is repeated this many times.
    retries: Annotated[int, Field(ge=0, le=5)] = 2
    # Gateway seconds between polls of a meter that gives no interval of its own.
    interval: Annotated[Duration, Field(ge=60, le=7 * 86_400)] = 900
    meter: Annotated[tuple[MbusMeterConfig, ...], Field(strict=False, max_length=METERS_MAX)] = ()

    @model_validator(mode="after")
    def _checks(self) -> MbusConfig:
        if not os.path.isabs(self.port):
            raise KeyedError("port", f"must be an absolute device path, got {self.port!r}")
        seen: dict[str, int] = {}
        for i, meter in enumerate(self.meter, start=1):
            label = meter.label
            if label in seen:
                raise KeyedError(f"meter[{i}].address", f"{label} is also meter[{seen[label]}]")
            seen[label] = i
        return self
