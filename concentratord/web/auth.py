"""Bearer tokens of the web API: who is asking, with which role, for which tenant.

Tokens come from ``[[web.token]]`` (inline, or a file read once at start). A request names
one with ``Authorization: Bearer TOKEN``; :meth:`Authenticator.identify` gives the
:class:`Principal` it stands for, or None. Roles are ordered (``user`` < ``superuser`` <
``administrator``): a role has every right of the ones below it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from concentratord.config.field_view import MAX_TOKEN_CHARS, MIN_TOKEN_CHARS, WebToken
from concentratord.config.sections import ROLES, Role


class TokenFileError(Exception):
    """A ``token_file`` cannot be used (unreadable, empty, or a token of the wrong size)."""


@dataclass(frozen=True)
class Principal:
    """Who a valid token stands for."""

    name: str
    role: Role
    tenant: str | None  # None: every tenant's meters

    def has(self, role: Role) -> bool:
        """Whether this principal's role includes ``role``."""
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True)
class _Credential:
    digest: bytes  # SHA-256 of the token: equal lengths for compare_digest, no raw secret kept
    principal: Principal


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def read_token_file(name: str, path: str) -> str:
    """The token in ``path`` (surrounding whitespace and the trailing newline removed)."""
    where = f"web.token {name!r}: token_file {path}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenFileError(f"{where}: cannot read it: {exc}") from exc
    token = text.strip()
    if not token:
        raise TokenFileError(f"{where}: is empty")
    if not MIN_TOKEN_CHARS <= len(token) <= MAX_TOKEN_CHARS:
        raise TokenFileError(
            f"{where}: the token must be {MIN_TOKEN_CHARS}-{MAX_TOKEN_CHARS} characters, "
            f"got {len(token)}"
        )
    return token


def token_of(entry: WebToken) -> str:
    """The secret of one ``[[web.token]]``: inline, or read from its file now."""
    if entry.token is not None:
        return entry.token.get_secret_value()
    assert entry.token_file is not None  # the config model demands one of the two
    return read_token_file(entry.name, entry.token_file)


class Authenticator:
    """The configured tokens, read once; answers which principal a header stands for."""

    def __init__(self, entries: Sequence[WebToken]) -> None:
        """Read every token (files included); :class:`TokenFileError` when one is unusable."""
        self._credentials: list[_Credential] = []
        owners: dict[bytes, str] = {}
        for entry in entries:
            digest = _digest(token_of(entry))
            # Two entries with one secret would make the role a request gets ambiguous.
            if digest in owners:
                raise TokenFileError(
                    f"web.token {owners[digest]!r} and {entry.name!r} have the same token"
                )
            owners[digest] = entry.name
            principal = Principal(entry.name, entry.role, entry.tenant)
            self._credentials.append(_Credential(digest, principal))

    def identify(self, token: str | None) -> Principal | None:
        """The principal ``token`` stands for, or None when it is not a configured token."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        digest = _digest(token)
        found: Principal | None = None
        # Every credential is compared (no early exit), in constant time each, so the time
        # taken says nothing about which token, or how much of one, was right.
        for credential in self._credentials:
            if hmac.compare_digest(digest, credential.digest):
                found = credential.principal
        return found


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header, or None."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":  # the scheme name is case-insensitive (RFC 7235)
        return None
    return value.strip() or None
