"""Who is calling, whatever the channel: a local user, a web token or a tenant's head-end."""

from __future__ import annotations

import pwd
import socket
from dataclasses import dataclass
from functools import cache

from concentratord.config.sections import Role


@cache
def hostname() -> str:
    """The gateway's host name, as the audit trail names the computer."""
    return socket.gethostname()


@dataclass(frozen=True, slots=True)
class Caller:
    """One identified caller: the name the audit trail shows, its role, the tenant it is
    confined to (None: every tenant's meters) and where it called from.

    ``peer`` is ``local`` for the control socket, the client's address for the web API and
    ``mqtt:CLIENT`` for a head-end (the client id it declares: the broker does not say).
    """

    user: str
    role: Role | None
    peer: str
    tenant: str | None = None

    @property
    def computer(self) -> str:
        """The gateway's host name and the peer: ``gw-0001/local``."""
        return f"{hostname()}/{self.peer}"

    @property
    def described(self) -> str:
        """``alice (user)``: how a refusal names the caller."""
        return f"{self.user} ({self.role or 'no role'})"


def local_user_name(uid: int) -> str:
    """The user name of ``uid`` (``uid 1234`` when the system has no such user)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def headend(tenant: str, role: Role, client_id: str | None) -> Caller:
    """A tenant's head-end: ``tenant:<name>``, confined to its tenant."""
    return Caller(f"tenant:{tenant}", role, f"mqtt:{client_id or 'unknown'}", tenant)
