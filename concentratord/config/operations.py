"""``[log]`` and ``[metrics]``: what an operator of a fleet reads and scrapes
(docs/operations.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator

from concentratord.config.field_view import check_listen
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
