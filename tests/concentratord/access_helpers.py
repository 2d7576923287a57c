"""An authority whose audit entries land in a list, and a control socket identity of a
fixed role: the real authorisation function, with the store left out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from concentratord.access import Authority, Caller, PermissionTable
from concentratord.config.sections import Role
from concentratord.control import Peer


def recording_authority(entries: list[dict[str, Any]], now: float = 1000.0) -> Authority:
    """The default permission table; each audit entry appended to ``entries``."""

    async def sink(entry: dict[str, Any]) -> None:
        entries.append(entry)

    return Authority(PermissionTable(), sink, lambda: now)


def as_role(role: Role | None, user: str = "alice") -> Callable[[Peer], Caller]:
    """Every peer is ``user`` with ``role``, calling locally."""
    return lambda peer: Caller(user, role, "local")
