"""``[access]``: which local users and groups hold which role, the head-ends' role, and
the audit trail's share of the store (docs/access.md)."""

from __future__ import annotations

import grp
import pwd
import re
from collections.abc import Collection
from typing import Annotated

from pydantic import AfterValidator, Field

from concentratord.config.sections import ROLES, Role, Section

_UNIX_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?")


def _account(value: int | str) -> int | str:
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a uid or gid must not be negative, got {value}")
    elif not _UNIX_NAME.fullmatch(value):
        raise ValueError(f"not a user or group name: {value!r}")
    return value


Account = Annotated[int | str, AfterValidator(_account)]


class RoleGrant(Section):
    """Who holds one role on the control socket: Unix users and groups, by name or id."""

    users: Annotated[tuple[Account, ...], Field(strict=False)] = ()
    groups: Annotated[tuple[Account, ...], Field(strict=False)] = ()

    def holds(self, uid: int, gids: Collection[int]) -> bool:
        """Whether a peer with ``uid`` and groups ``gids`` holds this role.

        Names are looked up when asked, not at load time: users may be created after the
        configuration is written, and a name that does not exist grants nothing.
        """
        return any(_uid(u) == uid for u in self.users) or any(_gid(g) in gids for g in self.groups)

    @staticmethod
    def resolves(kind: str, name: str) -> bool:
        """Whether a user (``kind`` "users") or group name exists on this system."""
        return (_uid(name) if kind == "users" else _gid(name)) is not None


def _uid(account: int | str) -> int | None:
    if isinstance(account, int):
        return account
    try:
        return pwd.getpwnam(account).pw_uid
    except KeyError:
        return None


def _gid(account: int | str) -> int | None:
    if isinstance(account, int):
        return account
    try:
        return grp.getgrnam(account).gr_gid
    except KeyError:
        return None


class AccessConfig(Section):
    """``[access]``: roles of local users, the head-ends' role, the audit trail's bound."""

    user: RoleGrant = RoleGrant(groups=("concentratord",))
    superuser: RoleGrant = RoleGrant()
    administrator: RoleGrant = RoleGrant(users=(0,))
    # A tenant's head-end acts with this role, within its own tenant only.
    headend_role: Role = "superuser"
    # The audit trail never takes more than this share of storage.max_bytes.
    audit_max_share: Annotated[float, Field(gt=0, le=0.5)] = 0.05

    def role_of(self, uid: int, gids: Collection[int]) -> Role | None:
        """The highest role a peer holds (SO_PEERCRED uid and groups), or None."""
        for role in reversed(ROLES):
            grant: RoleGrant = getattr(self, role)
            if grant.holds(uid, gids):
                return role
        return None
