"""The priority meters: read every 5 minutes (``schedule.priority_meters``, replaced per
tenant by the head-end's ``set_priority_meters`` until restart)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from concentratord.config import PRIORITY_METERS_MAX


class PriorityError(ValueError):
    """A change refused; the message is the reason for the head-end."""


class PriorityMeters:
    """One owner of the set; ``owner(meter_id)`` names the tenant a meter belongs to."""

    def __init__(
        self,
        meters: Iterable[str],
        owner: Callable[[str], str | None],
        limit: int = PRIORITY_METERS_MAX,
    ) -> None:
        self._meters = frozenset(meters)
        self._owner = owner
        self.limit = limit

    @property
    def meters(self) -> frozenset[str]:
        """The meters taken every 5 minutes now."""
        return self._meters

    def configure(self, meters: Iterable[str]) -> None:
        """The configured list again (a reload): as at start, the head-ends' changes go."""
        self._meters = frozenset(meters)

    def replace(self, tenant: str, meters: Iterable[str]) -> frozenset[str]:
        """Make ``meters`` the priority meters of ``tenant`` (the other tenants' stay);
        :class:`PriorityError` when a meter is not the tenant's or a limit is passed."""
        wanted = frozenset(meters)
        if len(wanted) > self.limit:
            raise PriorityError(f"at most {self.limit} priority meters")
        foreign = sorted(m for m in wanted if self._owner(m) != tenant)
        if foreign:
            raise PriorityError(f"meters not of this tenant: {', '.join(foreign)}")
        others = {
            m for m in self._meters if (owner := self._owner(m)) is not None and owner != tenant
        }
        if len(others) + len(wanted) > self.limit:
            raise PriorityError(f"at most {self.limit} priority meters per gateway")
        self._meters = frozenset(others) | wanted
        return wanted
