"""Which utility each meter belongs to: the configured tenants, the tenants added at run
time, and the meters a tenant claims by the keys it supplied (docs/access.md, "Tenants").

One owner of the meter-to-tenant assignment: the pipeline, the key store, the priority
meters and the head-end commands all ask :meth:`TenantMap.owner`. Patterns (ids, ranges,
``MAN:ID``) come first, in file order; a meter no pattern claims belongs to the
``meters_from_keys`` tenant holding its key. A tenant added at run time is *pending* (its
head-end may connect, it owns no meter) until its head-end presents the share ID issued
when it was added; from then on it is served like a configured one, across restarts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from concentratord.config import TenantConfig
from concentratord.config.meters import find_overlap, is_exact, matches
from concentratord.config.sections import KeyedError, check_reply_prefixes
from concentratord.keystore import KeyImportError

Holders = Callable[[str, str | None], list[str]]
Matcher = Callable[[str, str | None], bool]


class TenantError(ValueError):
    """A tenant change refused; the message says why."""


def matcher(patterns: Iterable[str]) -> Matcher:
    """Whether a meter (id, manufacturer or None) matches one of these normalised patterns:
    exact ids in sets (30,000 listed meters), wildcards one by one."""
    patterns = tuple(patterns)
    exact_ids = {p for p in patterns if ":" not in p and is_exact(p)}
    exact_keys = {p for p in patterns if ":" in p and is_exact(p)}
    wild = [p for p in patterns if not is_exact(p)]

    def owns(meter_id: str, manufacturer: str | None) -> bool:
        if meter_id in exact_ids or any(matches(p, meter_id, manufacturer) for p in wild):
            return True
        if manufacturer is not None:
            return f"{manufacturer}:{meter_id}" in exact_keys
        return any(matches(p, meter_id) for p in exact_keys)

    return owns


def _digest(share_id: str) -> str:
    return hashlib.sha256(share_id.encode()).hexdigest()


@dataclass
class _Entry:
    config: TenantConfig
    owns: Matcher
    runtime: bool
    share_digest: str | None = None  # runtime tenants: SHA-256 of the share ID
    active: bool = True


class TenantMap:
    """The tenants and their meters."""

    def __init__(self, configured: Iterable[TenantConfig]) -> None:
        self._entries: dict[str, _Entry] = {
            t.name: _Entry(t, matcher(t.meters), runtime=False) for t in configured
        }
        self._holders: Holders = lambda _meter_id, _manufacturer: []

    def bind_key_holders(self, holders: Holders) -> None:
        """Where ``meters_from_keys`` tenants' claims come from (the key store)."""
        self._holders = holders

    # -- reading ---------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """Every tenant with an uplink: configured, added, pending or not."""
        return list(self._entries)

    def config(self, name: str) -> TenantConfig:
        """The tenant's configuration (KeyError: no such tenant)."""
        return self._entries[name].config

    def is_active(self, name: str) -> bool:
        """Whether the tenant is served (a runtime tenant: once its share ID was presented)."""
        entry = self._entries.get(name)
        return entry is not None and entry.active

    def is_runtime(self, name: str) -> bool:
        """Whether the tenant was added at run time (and so may be removed at run time)."""
        entry = self._entries.get(name)
        return entry is not None and entry.runtime

    def owner(self, meter_id: str, manufacturer: str | None = None) -> str | None:
        """The active tenant whose meter this is, or None."""
        for name, entry in self._entries.items():
            if entry.active and entry.owns(meter_id, manufacturer):
                return name
        # Only a meters_from_keys tenant claims by keys: without one, no key is looked up
        # (this runs for every new meter no pattern takes, the neighbours' included).
        if not any(e.active and e.config.meters_from_keys for e in self._entries.values()):
            return None
        for name in self._holders(meter_id, manufacturer):
            holder = self._entries.get(name)
            if holder is not None and holder.active and holder.config.meters_from_keys:
                return name
        return None

    def key_route(self, meter_id: str, scope: str | None) -> str:
        """The tenant a key of ``meter_id`` goes to, imported by a caller confined to
        ``scope`` (None: local staff); :class:`KeyImportError` naming only the meter."""
        number = meter_id.rpartition(":")[2]
        manufacturer = meter_id.rpartition(":")[0] or None
        owner = self.owner(number, manufacturer)
        if scope is None:
            if owner is None:
                raise KeyImportError(f"meter {meter_id} belongs to no tenant: import it as one")
            return owner
        if owner == scope:
            return scope
        entry = self._entries.get(scope)
        if owner is None and entry is not None and entry.config.meters_from_keys:
            return scope
        raise KeyImportError(f"meter {meter_id} is not a meter of this tenant")

    def listing(self) -> list[dict[str, Any]]:
        """The tenants for ``concentratorctl tenant list`` (no secrets)."""
        return [
            {
                "name": name,
                "source": "runtime" if e.runtime else "configuration",
                "state": "active" if e.active else "waiting for its share ID",
                "payload": e.config.payload,
                "meters": list(e.config.meters),
                "meters_from_keys": e.config.meters_from_keys,
                "broker": e.config.uplink.broker,
                "prefix": e.config.uplink.prefix,
            }
            for name, e in self._entries.items()
        ]

    # -- changes ---------------------------------------------------------------------------

    def add(self, config: TenantConfig) -> str:
        """Add a pending tenant; the share ID its head-end must present (shown once)."""
        if config.name in self._entries:
            raise TenantError(f"tenant {config.name} exists")
        tenants = [e.config for e in self._entries.values()] + [config]
        clash = find_overlap((t.name, t.meters) for t in tenants)
        if clash is not None:
            raise TenantError(
                f"meters of tenant {config.name} ({clash[1].template}) overlap tenant "
                f"{clash[0].tenant}'s ({clash[0].template})"
            )
        try:
            check_reply_prefixes(tenants, lambda i: tenants[i].name)
        except KeyedError as err:
            raise TenantError(f"{err.key}: {err.reason}") from None
        share_id = "share-" + secrets.token_urlsafe(18)
        self._entries[config.name] = _Entry(
            config,
            matcher(config.meters),
            runtime=True,
            share_digest=_digest(share_id),
            active=False,
        )
        return share_id

    def present(self, name: str, share_id: str) -> bool:
        """The head-end of pending tenant ``name`` presents ``share_id``: activated if it
        is the one issued. Whether it was (constant time)."""
        entry = self._entries.get(name)
        if entry is None or entry.share_digest is None:
            return False
        if not hmac.compare_digest(_digest(share_id), entry.share_digest):
            return False
        entry.active = True
        return True

    def remove(self, name: str) -> TenantConfig:
        """Remove a runtime tenant; configured ones are refused (they live in the file)."""
        entry = self._entries.get(name)
        if entry is None:
            raise TenantError(f"no tenant {name}")
        if not entry.runtime:
            raise TenantError(f"tenant {name} is configured: remove it from the configuration")
        del self._entries[name]
        return entry.config

    # -- persistence -----------------------------------------------------------------------

    def dump(self) -> bytes:
        """The runtime tenants as kept in the store (their MQTT password included)."""
        out = []
        for e in self._entries.values():
            if not e.runtime:
                continue
            config = e.config.model_dump(mode="python")
            password = e.config.uplink.password
            config["uplink"]["password"] = password.get_secret_value() if password else None
            config["meters"] = list(config["meters"])
            out.append({"config": config, "share_digest": e.share_digest, "active": e.active})
        return json.dumps(out).encode()

    def load(self, body: bytes | None) -> list[str]:
        """Add the runtime tenants kept by :meth:`dump`; the names added."""
        if not body:
            return []
        added = []
        for item in json.loads(body):
            try:
                config = TenantConfig.model_validate(item["config"])
            except (ValidationError, KeyError, TypeError) as err:
                raise TenantError(f"a stored runtime tenant is unreadable: {err}") from None
            if config.name in self._entries:
                continue  # configured since: the file wins
            self._entries[config.name] = _Entry(
                config,
                matcher(config.meters),
                runtime=True,
                share_digest=item.get("share_digest"),
                active=bool(item.get("active")),
            )
            added.append(config.name)
        return added
