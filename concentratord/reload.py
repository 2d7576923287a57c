"""Reloading the configuration while running (SIGHUP, ``concentratorctl reload``;
docs/operations.md, "Reload").

The file is read and checked as at start. A file the daemon would refuse is refused and
the running configuration kept. A valid one is compared key by key with the running one:
if every changed key is one that can change live (:data:`LIVE`), it is applied without
dropping the radio, the uplinks or anything stored; otherwise the reload is refused naming
the keys that need a restart. Keys files are read again either way a reload is applied (a
rotated key in a file takes effect). Every attempt is audited.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from concentratord.access import Authority, Caller
from concentratord.config import Config, ConfigError, load_config

log = logging.getLogger(__name__)

# What a reload may change, as dotted keys or prefixes ending in ".".
LIVE: tuple[str, ...] = (
    "schedule.priority_meters",
    "visibility.good_reception_rate",
    "visibility.silent_after",
    "log.level",
    "access.",
    "limits.memory_bytes",
)


class ReloadRefusedError(Exception):
    """The reload is refused; the message says why (the keys, or the file's error)."""


def _flat(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _flat(inner, f"{prefix}{key}.")
    elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        for i, inner in enumerate(value, start=1):
            yield from _flat(inner, f"{prefix[:-1]}[{i}].")
    else:
        yield prefix[:-1], value


def changed_keys(running: Config, wanted: Config) -> list[str]:
    """The dotted keys whose value differs (secrets compared as their values)."""
    old = dict(_flat(_plain(running)))
    new = dict(_flat(_plain(wanted)))
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def _plain(config: Config) -> dict[str, Any]:
    data = config.model_dump(mode="python")
    # SecretStr compares equal only to itself: take the values, so a password change shows.
    for i, tenant in enumerate(config.tenants):
        if tenant.uplink.password is not None:
            data.setdefault("_secrets", {})[f"tenant{i}"] = (
                tenant.uplink.password.get_secret_value()
            )
    for token in config.web.token if config.web is not None else ():
        if token.token is not None:
            data.setdefault("_secrets", {})[f"web.{token.name}"] = token.token.get_secret_value()
    plain: dict[str, Any] = _jsonable(data)
    return plain


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def is_live(key: str) -> bool:
    """Whether ``key`` may change without a restart."""
    return any(key == live or (live.endswith(".") and key.startswith(live)) for live in LIVE)


def check_reload(running: Config, wanted: Config) -> list[str]:
    """The changed keys, all live; :class:`ReloadRefusedError` naming the others."""
    changed = changed_keys(running, wanted)
    fixed = [k for k in changed if not is_live(k)]
    if fixed:
        shown = ", ".join(k.replace("_secrets.", "secret ") for k in fixed[:5])
        more = f" and {len(fixed) - 5} more" if len(fixed) > 5 else ""
        raise ReloadRefusedError(f"{shown}{more} cannot change while running: restart instead")
    return changed


class Reloader:
    """Reads the file again and applies it if it may be (narrow: the running configuration,
    how to apply one, the audit)."""

    def __init__(
        self,
        config_file: str,
        running: Callable[[], Config],
        apply: Callable[[Config], None],
        authority: Authority,
    ) -> None:
        self.config_file = config_file
        self._running = running
        self._apply = apply
        self._authority = authority

    async def reload(self, caller: Caller, *, audit: bool = True) -> dict[str, Any]:
        """Reload for ``caller``; the changed keys. :class:`ReloadRefusedError` (audited
        when ``audit``) leaves the running configuration as it was."""
        try:
            wanted = load_config(self.config_file)
            changed = check_reload(self._running(), wanted)
            self._apply(wanted)  # keys files read again: ConfigError when one is broken
        except (ConfigError, ReloadRefusedError) as err:
            reason = str(err)
            log.error("reload refused, the running configuration stays: %s", reason)
            if audit:
                await self._authority.record(
                    caller, "reload", {}, f"refused: {reason}", event="refusal"
                )
            raise ReloadRefusedError(reason) from None
        outcome = f"done: {', '.join(changed)}" if changed else "done: no change"
        log.info("configuration reloaded from %s (%s)", self.config_file, outcome[6:])
        if audit:
            await self._authority.record(caller, "reload", {}, outcome)
        return {"changed": changed}
