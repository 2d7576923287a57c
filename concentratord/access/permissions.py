"""The permission table: which role holds which permission (docs/access.md).

The default is the table of the system we replace. An administrator may grant or revoke
permissions of the ``user`` and ``superuser`` roles; the administrator always holds every
permission, so that no change can lock the gateway's owner out of access control.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from enum import StrEnum

from concentratord.config.sections import ROLES, Role


class Permission(StrEnum):
    """One right, named as the system we replace names it."""

    DATA = "data access"  # status, meters, visibility, alarms, queue, export
    READINGS = "reading management"  # backfill, priority meters, live tap
    DEVICES = "device management"  # keys, meter-to-tenant assignment, radio settings
    GROUPS = "group management"  # meter groups
    SYSTEM = "system configuration"  # config show/check/reload, schedules
    ACCESS = "access control"  # roles, tokens, permissions, tenants, audit export


PERMISSIONS: tuple[Permission, ...] = tuple(Permission)

DEFAULT_TABLE: Mapping[Role, frozenset[Permission]] = {
    "administrator": frozenset(PERMISSIONS),
    "superuser": frozenset(PERMISSIONS) - {Permission.ACCESS},
    "user": frozenset({Permission.DATA}),
}


class PermissionTableError(ValueError):
    """A change of the table refused (an unknown role or permission, the administrator)."""


def parse_permission(text: str) -> Permission:
    """A permission from its name, with ``-`` or ``_`` for spaces (``device-management``)."""
    wanted = " ".join(text.strip().lower().replace("-", " ").replace("_", " ").split())
    for permission in PERMISSIONS:
        if permission.value == wanted:
            return permission
    names = ", ".join(f'"{p.value}"' for p in PERMISSIONS)
    raise PermissionTableError(f"no permission {text!r}: one of {names}")


def _role(text: str) -> Role:
    for role in ROLES:
        if role == text:
            return role
    raise PermissionTableError(f"no role {text!r}: one of {', '.join(ROLES)}")


class PermissionTable:
    """Role -> permissions, changed only through :meth:`grant` and :meth:`revoke`."""

    def __init__(self, table: Mapping[Role, Iterable[Permission]] = DEFAULT_TABLE) -> None:
        self._table: dict[Role, frozenset[Permission]] = {
            role: frozenset(table.get(role, ())) for role in ROLES
        }
        self._table["administrator"] = frozenset(PERMISSIONS)

    def holds(self, role: Role | None, permission: Permission) -> bool:
        """Whether ``role`` (None: no role) has ``permission`` now."""
        return role is not None and permission in self._table[role]

    def grant(self, role: str, permission: str) -> bool:
        """Give ``role`` the permission; whether that changed anything."""
        return self._change(role, permission, add=True)

    def revoke(self, role: str, permission: str) -> bool:
        """Take the permission from ``role``; whether that changed anything."""
        return self._change(role, permission, add=False)

    def _change(self, role_name: str, permission_name: str, *, add: bool) -> bool:
        role, permission = _role(role_name), parse_permission(permission_name)
        if role == "administrator":
            raise PermissionTableError("the administrator holds every permission; it cannot change")
        before = self._table[role]
        self._table[role] = before | {permission} if add else before - {permission}
        return self._table[role] != before

    def rows(self) -> list[dict[str, object]]:
        """The table as ``access show`` prints it: one row per permission, a column per role."""
        return [
            {"permission": p.value, **{role: p in self._table[role] for role in reversed(ROLES)}}
            for p in PERMISSIONS
        ]

    def dump(self) -> bytes:
        """The table as it is kept in the store (JSON: role -> permission names)."""
        return json.dumps({r: sorted(p.value for p in self._table[r]) for r in ROLES}).encode()

    @classmethod
    def load(cls, body: bytes | None) -> PermissionTable:
        """A table kept by :meth:`dump` (None: the default table); unknown names are errors."""
        if body is None:
            return cls()
        data = json.loads(body)
        if not isinstance(data, dict):
            raise PermissionTableError("the stored permission table is not an object")
        return cls({_role(r): [parse_permission(p) for p in ps] for r, ps in data.items()})
