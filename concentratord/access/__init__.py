"""Who may do what: the roles and permissions of the system we replace, one authorisation
function for every channel (control socket, web API, head-end commands), and the audit
trail of every change and refusal (docs/access.md)."""

from concentratord.access.authority import Authority, NotPermittedError
from concentratord.access.identity import Caller
from concentratord.access.permissions import (
    PERMISSIONS,
    Permission,
    PermissionTable,
    PermissionTableError,
    parse_permission,
)

__all__ = [
    "PERMISSIONS",
    "Authority",
    "Caller",
    "NotPermittedError",
    "Permission",
    "PermissionTable",
    "PermissionTableError",
    "parse_permission",
]
