"""``[log]`` and ``[metrics]``: what an operator of a fleet reads and scrapes
(docs/operations.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from concentratord.config.field_view import Duration, check_listen
from concentratord.config.sections import Section

LogLevel = Literal["debug", "info", "warning", "error"]


class LogConfig(Section):
    """``[log]``: how much the daemon writes (``concentratord run --log-level`` overrides)."""

    level: LogLevel = "info"


class MetricsConfig(Section):
    """``[metrics]``: the Prometheus endpoint ``/metrics`` (off without the table)."""

    listen: Annotated[str, AfterValidator(check_listen)] = "127.0.0.1:9464"

    @property
    def host(self) -> str:
        """The address to listen on (brackets of an IPv6 address removed)."""
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        """The TCP port to listen on."""
        return int(self.listen.rpartition(":")[2])


class WatchdogConfig(Section):
    """``[watchdog]``: the deadlines of the loops systemd's watchdog vouches for."""

    # Gateway seconds without a telegram before the radio loop counts as stalled.
    radio_silence: Annotated[Duration, Field(ge=60, le=7 * 86_400)] = 1800
    # Seconds one publishing pass (publishes and their acknowledgements) may take.
    uplink_stall: Annotated[Duration, Field(ge=10, le=86_400)] = 300
