"""``limits.max_meters``: how many meters the gateway serves (stores and sends readings of),
whatever the tenants' patterns would take (config/README.md, "Profiles").

The first meters of tenants heard are served, up to the limit; a later one is refused:
counted by the pipeline, named once in the log and listed in status, and the daemon raises
``METER_LIMIT``. A served meter stays served (its place is not given away to a newcomer).
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

# Meters beyond the limit that status names (the count has no bound).
LISTED = 100
# Meters beyond the limit remembered (so each is logged once); past it, counted only.
REMEMBERED = 10_000


# Device types (EN 13757-3 table 6) of heat and cooling meters: limits.max_heat_meters.
HEAT_COOLING = frozenset({0x04, 0x0A, 0x0B, 0x0C, 0x0D})


class MeterLimit:
    """The served meters (by ``MAN:ID``) and those refused for the limit."""

    def __init__(self, limit: int, heat_limit: int | None = None) -> None:
        self.limit = limit
        self.heat_limit = limit if heat_limit is None else min(heat_limit, limit)
        self.served: set[str] = set()
        self.heat_served: set[str] = set()
        self.refused: dict[str, str] = {}  # MAN:ID -> the tenant it would belong to

    def admit(self, key: str, tenant: str, device_type: int = 0x07) -> bool:
        """Whether meter ``key`` of ``tenant`` is served (taking a free place if there is
        one); a refusal is logged the first time for that meter."""
        if key in self.served:
            return True
        heat = device_type in HEAT_COOLING
        if len(self.served) < self.limit and (not heat or len(self.heat_served) < self.heat_limit):
            self.served.add(key)
            if heat:
                self.heat_served.add(key)
            self.refused.pop(key, None)
            return True
        if key not in self.refused:
            if len(self.refused) >= REMEMBERED:
                return False  # counted by the pipeline; no longer named
            self.refused[key] = tenant
            which = (
                "limits.max_heat_meters"
                if heat and len(self.served) < self.limit
                else "limits.max_meters"
            )
            log.warning(
                "meter %s of tenant %s not collected: %s = %d meters are served",
                key,
                tenant,
                which,
                self.heat_limit if which == "limits.max_heat_meters" else self.limit,
            )
        return False

    def release(self, key: str) -> None:
        """Meter ``key`` is no tenant's any more: its place is free."""
        self.served.discard(key)
        self.heat_served.discard(key)
        self.refused.pop(key, None)

    def status(self) -> dict[str, object]:
        """For ``status``: the limit, how many are served, the refused (first :data:`LISTED`)."""
        return {
            "max_meters": self.limit,
            "max_heat_meters": self.heat_limit,
            "served": len(self.served),
            "heat_served": len(self.heat_served),
            "over_limit": len(self.refused),
            "over_limit_meters": list(self.refused)[:LISTED],
        }
