"""``[log]`` and ``[metrics]``: what an operator of a fleet reads and scrapes
(docs/operations.md)."""

from __future__ import annotations

from typing import Literal

from concentratord.config.sections import Section

LogLevel = Literal["debug", "info", "warning", "error"]


class LogConfig(Section):
    """``[log]``: how much the daemon writes (``concentratord run --log-level`` overrides)."""

    level: LogLevel = "info"
