"""Hardware profiles and the limits they impose (docs/design.md, "Hardware profiles and limits").

A profile names a class of gateway hardware. Its meter count is a hard limit: the
configuration may lower it (``limits.max_meters``) but never raise it, because the figures
below are what the hardware was sized and benchmarked for. The other figures are defaults
that ``[limits]`` and ``[storage]`` may override in either direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Profile = Literal["concentrator", "concentrator-1m", "mini", "bridge"]
PROFILES: tuple[str, ...] = get_args(Profile)

# The head-end reads priority meters every 5 minutes; more than this would turn the
# schedule into a stream, whatever the hardware.
PRIORITY_METERS_MAX = 50

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ProfileLimits:
    """What one profile allows (``max_meters``) and its resource defaults."""

    profile: str
    max_meters: int  # hard limit: meters assigned to tenants on one gateway
    max_heat_meters: int  # hard limit: of them, heat and cooling meters (bigger telegrams)
    priority_meters: int  # hard limit: ids in schedule.priority_meters
    storage_max_bytes: int  # default storage.max_bytes
    frame_queue: int  # default limits.frame_queue: radio frames waiting for the pipeline
    visible_meters: int  # default limits.visible_meters: meters tracked for the visibility check
    memory_bytes: int  # default limits.memory_bytes: resident memory the daemon reports above


# Sizing, per profile (documented in config/README.md, "Profiles"):
# - meters: the system we replace rates its large concentrator for 30,000 water meters or
#   10,000 heat/cooling meters (these send longer telegrams, more often, with more values).
# - storage: a meter's hourly values take about 2.5 kB a day in SQLite with indexes, so
#   256 MiB keeps about a week of 10,000 meters' hourly values plus the daily values;
#   the 1m profile keeps the same week for 30,000 meters in 1 GiB; mini and bridge
#   keep months for their handful of meters on a small flash.
# - frame_queue: about 2 s of the densest traffic the radio can deliver on each class.
# - visible_meters: a gateway hears neighbours' meters too; about three times its own.
_TABLE: dict[str, ProfileLimits] = {
    "concentrator": ProfileLimits(
        "concentrator", 10_000, 10_000, PRIORITY_METERS_MAX, 256 * MIB, 4096, 30_000, 256 * MIB
    ),
    "concentrator-1m": ProfileLimits(
        "concentrator-1m", 30_000, 10_000, PRIORITY_METERS_MAX, 1024 * MIB, 8192, 100_000, 512 * MIB
    ),
    "mini": ProfileLimits("mini", 25, 25, 25, 16 * MIB, 256, 1000, 64 * MIB),
    "bridge": ProfileLimits("bridge", 5, 5, 5, 4 * MIB, 64, 200, 64 * MIB),
}


def profile_limits(profile: str) -> ProfileLimits:
    """The limits of ``profile``; ValueError naming the known profiles otherwise."""
    try:
        return _TABLE[profile]
    except KeyError:
        raise ValueError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}") from None
