"""``[visibility]`` and ``[web]``: how the gateway judges what it hears, and who may look.

Durations are whole seconds or a number with a unit (``"90s"``, ``"15m"``, ``"24h"``,
``"7d"``). The web server is off unless ``[web]`` is present; each ``[[web.token]]`` names
one bearer token (given inline or read from a file at start) with a role and, optionally,
the one tenant it may see.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, model_validator

from concentratord.config.sections import KeyedError, Name, PathStr, Section

_DURATION = re.compile(r"(\d+)\s*(s|m|h|d)?")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, None: 1}
# A token shorter than this is guessable over a local network; 128 bits of hex is 32.
MIN_TOKEN_CHARS = 16
MAX_TOKEN_CHARS = 256


def duration_seconds(value: object) -> object:
    """``"24h"`` -> 86400; an int passes through (validated as an int afterwards)."""
    if isinstance(value, str):
        m = _DURATION.fullmatch(value.strip())
        if m is None:
            raise ValueError(f"must be seconds or a number with s, m, h or d, got {value!r}")
        return int(m.group(1)) * _UNITS[m.group(2)]
    return value


Duration = Annotated[int, BeforeValidator(duration_seconds)]


class VisibilityConfig(Section):
    """``[visibility]``: reception statistics, silent meters and the stats document."""

    # The reception rate is received / expected over this window (docs/visibility.md).
    window: Annotated[Duration, Field(ge=3600, le=31 * 86_400)] = 86_400
    good_reception_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.8
    # A tenant's meter that misses this many expected intervals raises METER_SILENT.
    silent_after: Annotated[int, Field(ge=2, le=10_000)] = 12
    # How often event/stats is published; 0 turns it off.
    stats_interval: Annotated[Duration, Field(ge=0, le=7 * 86_400)] = 3600

    @model_validator(mode="after")
    def _stats_interval(self) -> VisibilityConfig:
        if 0 < self.stats_interval < 60:
            raise KeyedError("stats_interval", "must be 0 (off) or at least 60 seconds")
        return self


def check_listen(value: str) -> str:
    """``HOST:PORT`` with an IP address and a port 1-65535 (ValueError otherwise)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65_536:
        raise ValueError(f"must be HOST:PORT with a port 1-65535, got {value!r}")
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ValueError(f"must name an IP address to listen on, got {host!r}") from None
    return value


def _token_length(value: SecretStr) -> SecretStr:
    n = len(value.get_secret_value())
    if not MIN_TOKEN_CHARS <= n <= MAX_TOKEN_CHARS:
        raise ValueError(f"must be {MIN_TOKEN_CHARS}-{MAX_TOKEN_CHARS} characters, got {n}")
    return value


class Listening:
    """The host and port of a table's checked ``listen = "HOST:PORT"`` (``[web]``,
    ``[metrics]``)."""

    listen: str

    @property
    def host(self) -> str:
        """The address to listen on (brackets of an IPv6 address removed)."""
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        """The TCP port to listen on."""
        return int(self.listen.rpartition(":")[2])


class WebToken(Section):
    """``[[web.token]]``: one bearer token of the web API."""

    name: Name
    role: Literal["user", "superuser", "administrator"] = "user"
    token: Annotated[SecretStr, AfterValidator(_token_length)] | None = None
    token_file: PathStr | None = None
    tenant: Name | None = None

    @model_validator(mode="after")
    def _one_source(self) -> WebToken:
        if (self.token is None) == (self.token_file is None):
            raise KeyedError("token", "give token or token_file (one of them)")
        return self


class WebConfig(Listening, Section):
    """``[web]``: the installer's page and the web API (docs/web.md)."""

    listen: Annotated[str, AfterValidator(check_listen)] = "0.0.0.0:8080"
    token: Annotated[tuple[WebToken, ...], Field(strict=False)] = ()

    @model_validator(mode="after")
    def _unique_names(self) -> WebConfig:
        seen: set[str] = set()
        for i, token in enumerate(self.token):
            if token.name in seen:
                raise KeyedError(f"token[{i + 1}].name", f"{token.name!r} is used twice")
            seen.add(token.name)
        return self
