"""``[log]`` and ``[metrics]``: what an operator of a fleet reads and scrapes
(docs/operations.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from concentratord.config.field_view import Duration, Listening, check_listen
from concentratord.config.sections import Section

LogLevel = Literal["debug", "info", "warning", "error"]


class LogConfig(Section):
    """``[log]``: how much the daemon writes (``concentratord run --log-level`` overrides)."""

    level: LogLevel = "info"


class MetricsConfig(Listening, Section):
    """``[metrics]``: the Prometheus endpoint ``/metrics`` (off without the table)."""

    listen: Annotated[str, AfterValidator(check_listen)] = "127.0.0.1:9464"


class WatchdogConfig(Section):
    """``[watchdog]``: the deadlines of the loops systemd's watchdog vouches for."""

    # Gateway seconds without a telegram before the radio loop counts as stalled.
    radio_silence: Annotated[Duration, Field(ge=60, le=7 * 86_400)] = 1800
    # Seconds one publishing pass (publishes and their acknowledgements) may take.
    uplink_stall: Annotated[Duration, Field(ge=10, le=86_400)] = 300
