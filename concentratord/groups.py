"""Meter groups: named sets of meters, a filter for the views and a priority list
(docs/access.md, "Meter groups").

A group is the gateway's (made by local staff, any meters) or one tenant's (only that
tenant's meters, and only that tenant's callers see or use it). A meter may be in several
groups. Members are 8-digit ids or ``MAN:ID``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_MEMBER = re.compile(r"(?:[A-Z@]{3}:)?[0-9A-F]{8}")
MAX_GROUPS = 1000
MAX_MEMBERS = 100_000  # per group: the largest profile's meters and then some


class GroupError(ValueError):
    """A group change or lookup refused; the message says why."""


@dataclass
class _Group:
    tenant: str | None
    members: set[str] = field(default_factory=set)


class MeterGroups:
    """The groups; ``owner(meter_id)`` names the tenant of a meter (for tenant groups)."""

    def __init__(self, owner: Callable[[str], str | None]) -> None:
        self._owner = owner
        self._groups: dict[str, _Group] = {}

    def _get(self, name: str, scope: str | None) -> _Group:
        group = self._groups.get(name)
        if group is None or (scope is not None and group.tenant != scope):
            raise GroupError(f"no group {name!r}")  # another tenant's group does not exist
        return group

    def create(self, name: str, tenant: str | None, scope: str | None) -> None:
        """A new empty group, the gateway's (``tenant`` None) or a tenant's."""
        if not _NAME.fullmatch(name):
            raise GroupError(f"group name must be 1-64 letters, digits, '.', '_' or '-': {name!r}")
        if scope is not None and tenant != scope:
            raise GroupError("a tenant makes groups of its own meters only")
        if name in self._groups:
            raise GroupError(f"group {name!r} exists")
        if len(self._groups) >= MAX_GROUPS:
            raise GroupError(f"at most {MAX_GROUPS} groups")
        self._groups[name] = _Group(tenant)

    def delete(self, name: str, scope: str | None) -> None:
        """Remove a group (its meters are untouched)."""
        self._get(name, scope)
        del self._groups[name]

    def add(self, name: str, meters: Iterable[str], scope: str | None) -> list[str]:
        """Add meters (all or none); a tenant group takes only its tenant's meters."""
        group = self._get(name, scope)
        wanted = [_member(m) for m in meters]
        if group.tenant is not None:
            foreign = [m for m in wanted if self._owner(m.rpartition(":")[2]) != group.tenant]
            if foreign:
                raise GroupError(f"meter {foreign[0]} is not a meter of tenant {group.tenant}")
        if len(group.members | set(wanted)) > MAX_MEMBERS:
            raise GroupError(f"at most {MAX_MEMBERS} meters in a group")
        group.members.update(wanted)
        return sorted(set(wanted))

    def remove(self, name: str, meters: Iterable[str], scope: str | None) -> list[str]:
        """Take meters out of a group (those not in it are ignored)."""
        group = self._get(name, scope)
        gone = {_member(m) for m in meters} & group.members
        group.members -= gone
        return sorted(gone)

    def members(self, name: str, scope: str | None) -> list[str]:
        """The group's meters, sorted."""
        return sorted(self._get(name, scope).members)

    def listing(self, scope: str | None) -> list[dict[str, Any]]:
        """The groups ``scope`` sees: name, tenant, how many meters."""
        return [
            {"name": name, "tenant": g.tenant, "meters": len(g.members)}
            for name, g in sorted(self._groups.items())
            if scope is None or g.tenant == scope
        ]

    def dump(self) -> bytes:
        """The groups as kept in the store."""
        return json.dumps(
            {n: {"tenant": g.tenant, "members": sorted(g.members)} for n, g in self._groups.items()}
        ).encode()

    def load(self, body: bytes | None) -> None:
        """The groups kept by :meth:`dump`."""
        if not body:
            return
        for name, item in json.loads(body).items():
            self._groups[name] = _Group(item.get("tenant"), set(item.get("members", ())))


def _member(text: str) -> str:
    member = str(text).strip().upper()
    if not _MEMBER.fullmatch(member):
        raise GroupError(f"{text!r} is not a meter id (8 digits, or MAN:ID)")
    return member
