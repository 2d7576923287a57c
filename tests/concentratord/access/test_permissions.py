"""The permission table: the default of the system we replace, changes an administrator
may make, and what is kept in the store."""

from __future__ import annotations

import pytest

from concentratord.access import Permission, PermissionTable, PermissionTableError, parse_permission
from concentratord.config.sections import ROLES, Role

# The table of the system we replace (docs/access.md), row by row.
DEFAULT: dict[Permission, set[Role]] = {
    Permission.DATA: {"administrator", "superuser", "user"},
    Permission.READINGS: {"administrator", "superuser"},
    Permission.DEVICES: {"administrator", "superuser"},
    Permission.GROUPS: {"administrator", "superuser"},
    Permission.SYSTEM: {"administrator", "superuser"},
    Permission.ACCESS: {"administrator"},
}


@pytest.mark.parametrize("permission", list(Permission))
@pytest.mark.parametrize("role", ROLES)
def test_the_default_table_is_the_one_of_the_system_we_replace(
    role: Role, permission: Permission
) -> None:
    assert PermissionTable().holds(role, permission) is (role in DEFAULT[permission])


def test_no_role_holds_nothing() -> None:
    assert not any(PermissionTable().holds(None, p) for p in Permission)


def test_a_grant_gives_the_role_the_permission_at_once() -> None:
    table = PermissionTable()
    assert table.grant("user", "device management") is True
    assert table.holds("user", Permission.DEVICES)


def test_a_revoke_takes_it_away() -> None:
    table = PermissionTable()
    assert table.revoke("superuser", "reading management") is True
    assert not table.holds("superuser", Permission.READINGS)


def test_granting_what_is_held_changes_nothing() -> None:
    assert PermissionTable().grant("superuser", "data access") is False


def test_the_administrator_cannot_lose_a_permission() -> None:
    with pytest.raises(PermissionTableError, match="administrator holds every permission"):
        PermissionTable().revoke("administrator", "access control")


def test_an_unknown_permission_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(PermissionTableError, match='"device management"'):
        PermissionTable().grant("user", "format disks")


def test_an_unknown_role_is_refused() -> None:
    with pytest.raises(PermissionTableError, match="no role 'guest'"):
        PermissionTable().grant("guest", "data access")


@pytest.mark.parametrize("text", ["device management", "device-management", "Device_Management"])
def test_permissions_are_named_with_spaces_hyphens_or_underscores(text: str) -> None:
    assert parse_permission(text) is Permission.DEVICES


def test_a_changed_table_is_kept_and_read_back() -> None:
    table = PermissionTable()
    table.grant("user", "group management")
    table.revoke("superuser", "system configuration")
    again = PermissionTable.load(table.dump())
    assert again.rows() == table.rows()


def test_nothing_kept_means_the_default_table() -> None:
    assert PermissionTable.load(None).rows() == PermissionTable().rows()


def test_rows_show_each_permission_with_a_column_per_role() -> None:
    first = PermissionTable().rows()[0]
    assert first == {
        "permission": "data access",
        "administrator": True,
        "superuser": True,
        "user": True,
    }
