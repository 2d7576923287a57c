"""The one authorisation function, and the audit of what it decided.

Every action of every channel names the permission it needs; :meth:`Authority.check`
decides from the caller's role and the current permission table, and writes every refusal
to the audit trail. Changes are written with :meth:`Authority.record` once carried out.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from concentratord.access.identity import Caller
from concentratord.access.permissions import Permission, PermissionTable

log = logging.getLogger(__name__)

# Argument names whose values are secrets: never written to the audit trail or the log.
SECRET_ARGS = frozenset({"key", "keys", "text", "password", "token", "share_id", "kem"})
REDACTED = "<redacted>"

# What the audit trail is given: (event, caller, action, arguments, outcome) -> stored.
AuditSink = Callable[[dict[str, Any]], Awaitable[None]]


class NotPermittedError(Exception):
    """The caller lacks the permission; the message names the permission and the caller."""


def redact(args: Mapping[str, Any]) -> dict[str, Any]:
    """``args`` with secret values replaced (nested objects too)."""
    out: dict[str, Any] = {}
    for name, value in args.items():
        if name in SECRET_ARGS:
            out[name] = REDACTED
        elif isinstance(value, Mapping):
            out[name] = redact(value)
        else:
            out[name] = value
    return out


class Authority:
    """The permission table in force and the audit trail it writes to."""

    def __init__(
        self,
        table: PermissionTable,
        audit: AuditSink,
        clock: Callable[[], float],
    ) -> None:
        self.table = table
        self._audit = audit
        self._clock = clock

    def allows(self, caller: Caller, permission: Permission) -> bool:
        """Whether ``caller`` holds ``permission`` now (no audit: for filtering views)."""
        return self.table.holds(caller.role, permission)

    async def check(
        self, caller: Caller, permission: Permission, action: str, args: Mapping[str, Any]
    ) -> None:
        """Return when ``caller`` may do ``action``; else audit the refusal and raise
        :class:`NotPermittedError`: ``keys import needs "device management"; you are
        alice (user)``.
        """
        if self.table.holds(caller.role, permission):
            return
        reason = f'{action} needs "{permission.value}"; you are {caller.described}'
        await self.record(caller, action, args, f"refused: {reason}", event="refusal")
        raise NotPermittedError(reason)

    async def record(
        self,
        caller: Caller,
        action: str,
        args: Mapping[str, Any],
        outcome: str,
        *,
        event: str = "change",
    ) -> None:
        """Write one entry: a change carried out (or failed), or a refusal."""
        entry = {
            "time": self._clock(),
            "event": event,
            "user": caller.user,
            "computer": caller.computer,
            "tenant": caller.tenant,
            "action": action,
            "args": redact(args),
            "outcome": outcome,
        }
        log.info(
            "audit: %s %s from %s: %s %s: %s",
            event,
            caller.user,
            caller.computer,
            action,
            entry["args"],
            outcome,
        )
        try:
            await self._audit(entry)
        except Exception:
            # The action stands (or was refused) either way; the journal has the line above.
            log.exception("audit entry could not be stored")
