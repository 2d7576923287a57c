"""``[bridge]``: a battery-powered ``bridge`` that listens in windows and connects only to
deliver (docs/operations.md, "The battery bridge"; decision 0009).

Without the table a ``bridge`` runs like every other gateway: radio and uplink always on
(a bridge on mains power).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PlainValidator, model_validator

from concentratord.config.field_view import Duration, duration_seconds
from concentratord.config.sections import KeyedError, Section

DAY = 86_400
# The shortest window worth waking for: the module is reconfigured at each wake.
MIN_LISTEN_S = 120


def _listen(value: object) -> int | Literal["auto"]:
    """``"auto"``, or a window of MIN_LISTEN_S seconds to a day."""
    if value == "auto":
        return "auto"
    seconds = duration_seconds(value)
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise ValueError(f'must be "auto" or a duration such as "15m", got {value!r}')
    if not MIN_LISTEN_S <= seconds <= DAY:
        raise ValueError(f"must be {MIN_LISTEN_S} s to a day ({DAY} s), got {seconds}")
    return seconds


class BridgeConfig(Section):
    """``[bridge]``: the radio's listening windows and the uplink's delivery sessions."""

    # Gateway seconds of each listening window; "auto": 1.5 times the longest transmission
    # interval of the meters served, at least MIN_LISTEN_S (docs/operations.md).
    listen: Annotated[int | Literal["auto"], PlainValidator(_listen)] = "auto"
    # Gateway seconds the radio sleeps between windows.
    sleep: Annotated[Duration, Field(ge=60, le=7 * DAY)] = 7200
    # Uplink sessions a day, evenly spaced from midnight (UTC, gateway clock).
    deliveries: Annotated[int, Field(ge=1, le=96)] = 4
    # "immediate": an alarm opens a session of its own; "scheduled": it waits for the next.
    alarm_uplink: Literal["immediate", "scheduled"] = "immediate"
    # Gateway seconds a session may last before it is closed with rows still pending.
    session_max: Annotated[Duration, Field(ge=30, le=DAY)] = 900

    @model_validator(mode="after")
    def _fits_the_day(self) -> BridgeConfig:
        if DAY // self.deliveries < self.session_max:
            raise KeyedError(
                "session_max",
                f"{self.session_max} s does not fit between {self.deliveries} deliveries a day",
            )
        return self
