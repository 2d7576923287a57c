"""The AES keys of each tenant's meters, and the only writer of them (docs/access.md, "Keys").

Two layers, merged with one rule:

- the **base**: the configured keys files (``[keys] file``, ``[[tenant]] keys_file``), read at
  start and never written;
- the **runtime file** ``keys.local`` beside the store (mode 0600, written atomically, wrapped
  with the device key when one is configured): every import and removal made since, in
  order, as ``TENANT ID HEX`` or ``TENANT ID -``.

The rule: runtime entries win. An imported key replaces the base key of that meter; a
removal hides the base key until a key is imported again. Each tenant's decoder reads its
keys through :meth:`KeyStore.keys_of`, a live read-only view: a key imported here is used
from the next telegram on. Nothing here ever prints, logs or returns key material.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType

from concentratord import keywrap

log = logging.getLogger(__name__)

RUNTIME_KEYS = "keys.local"
RUNTIME_SOURCE = "runtime"
_HEADER = "# concentratord runtime keys: imports and removals, oldest first\n"
# Bytes of the runtime file read at start (about 400,000 entries).
MAX_RUNTIME_BYTES = 32 * 1024 * 1024


class KeyImportError(ValueError):
    """An import or removal refused as a whole; the message says which meter and why."""


# Which tenant a meter's key goes to, for a caller confined to a tenant (None: local staff);
# raises KeyImportError naming the meter when it may not.
Route = Callable[[str, str | None], str]


class KeyStore:
    """Keys by tenant and meter id (``ID`` or ``MAN:ID``)."""

    def __init__(
        self,
        configured: Mapping[str, Mapping[str, bytes]],
        *,
        sources: Mapping[str, str],
        tenants: Mapping[str, bool],
        state_dir: str | os.PathLike[str],
        device_key: bytes | None = None,
    ) -> None:
        """``sources``: tenant -> the keys file its base keys came from; ``tenants``:
        tenant name -> whether it decodes (a raw tenant holds no keys)."""
        self._base = {name: dict(configured.get(name, {})) for name in tenants}
        self._sources = dict(sources)
        self._decoding = {name for name, decodes in tenants.items() if decodes}
        self._keys: dict[str, dict[str, bytes]] = {n: dict(k) for n, k in self._base.items()}
        # (tenant, meter) -> key imported, or None: removed. Insertion order is file order.
        self._runtime: dict[tuple[str, str], bytes | None] = {}
        self.path = Path(state_dir) / RUNTIME_KEYS
        self._device_key = device_key

    # -- reading ---------------------------------------------------------------------------

    def keys_of(self, tenant: str) -> Mapping[str, bytes]:
        """A live, read-only view of ``tenant``'s keys (for its decoder)."""
        return MappingProxyType(self._keys[tenant])

    def decodes(self, tenant: str) -> bool:
        """Whether ``tenant`` decodes (and so may hold keys)."""
        return tenant in self._decoding

    def holders(self, meter_id: str, manufacturer: str | None = None) -> list[str]:
        """The tenants holding a key for ``meter_id`` of ``manufacturer`` (a key by ``ID``
        or by ``MAN:ID``); without it, of any manufacturer (every key is looked at)."""
        if manufacturer is not None:
            scoped = f"{manufacturer}:{meter_id}"
            return [t for t, keys in self._keys.items() if meter_id in keys or scoped in keys]
        suffix = ":" + meter_id
        return [
            tenant
            for tenant, keys in self._keys.items()
            if meter_id in keys or any(k.endswith(suffix) for k in keys if ":" in k)
        ]

    def listing(self, tenant: str | None = None) -> list[dict[str, str]]:
        """Which meters have a key and where it came from; ids only, never key material.
        ``tenant``: that tenant's only."""
        rows = []
        for name, keys in self._keys.items():
            if tenant is not None and name != tenant:
                continue
            for meter_id in sorted(keys):
                runtime = (name, meter_id) in self._runtime
                source = RUNTIME_SOURCE if runtime else self._sources.get(name, "configuration")
                rows.append({"tenant": name, "id": meter_id, "source": source})
        return rows

    def replace_base(self, configured: Mapping[str, Mapping[str, bytes]]) -> None:
        """The keys files read again (a reload): the base replaced, the runtime layer
        applied over it again; the decoders' views see the result at once."""
        for name, keys in self._keys.items():
            self._base[name] = dict(configured.get(name, {}))
            keys.clear()
            keys.update(self._base[name])
        for (tenant, meter_id), key in self._runtime.items():
            if tenant in self._keys:
                self._apply(tenant, meter_id, key)

    # -- tenants ---------------------------------------------------------------------------

    def add_tenant(self, name: str, decodes: bool) -> None:
        """A tenant added at run time (no base keys); its runtime keys apply again."""
        self._base.setdefault(name, {})
        self._keys.setdefault(name, {})
        if decodes:
            self._decoding.add(name)
        for (tenant, meter_id), key in self._runtime.items():
            if tenant == name:
                self._apply(tenant, meter_id, key)

    def remove_tenant(self, name: str) -> None:
        """A tenant removed: its decoder goes with it; its runtime entries stay on file."""
        self._keys.get(name, {}).clear()
        self._decoding.discard(name)

    # -- the runtime layer -----------------------------------------------------------------

    def load_runtime(self, owner: Callable[[str], str | None]) -> None:
        """Apply ``keys.local`` over the base (at start). A file that cannot be read or
        unwrapped stops the start: running without its keys would silently stop decoding.

        A line of the earlier form ``ID HEX`` (no tenant) goes to ``owner(ID)``'s tenant."""
        if not self.path.exists():
            return
        blob = self.path.read_bytes()[: MAX_RUNTIME_BYTES + 1]
        if len(blob) > MAX_RUNTIME_BYTES:
            raise KeyImportError(f"{self.path}: over {MAX_RUNTIME_BYTES} bytes")
        if keywrap.is_wrapped(blob):
            if self._device_key is None:
                raise KeyImportError(f"{self.path} is wrapped and no device key is configured")
            blob = keywrap.unwrap(blob, self._device_key)
        for number, line in enumerate(blob.decode("utf-8").splitlines(), start=1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) == 2:  # written before tenants were recorded
                legacy = owner(parts[0].rpartition(":")[2])
                if legacy is None:
                    continue
                parts.insert(0, legacy)
            if len(parts) != 3:
                raise KeyImportError(f"{self.path}:{number}: expected 'TENANT ID HEX|-'")
            tenant, meter_id, value = parts
            key = None if value == "-" else bytes.fromhex(value)
            self._runtime.pop((tenant, meter_id), None)
            self._runtime[(tenant, meter_id)] = key
            if tenant in self._keys:
                self._apply(tenant, meter_id, key)
            else:
                log.warning("%s:%d: no tenant %s: kept, unused", self.path, number, tenant)

    def import_keys(self, keys: Mapping[str, bytes], route: Route, scope: str | None) -> list[str]:
        """Import every key or none: ``route`` names each meter's tenant for a caller
        confined to ``scope`` (or refuses it); then applied and saved. The meters imported."""
        placed = [(route(meter_id, scope), meter_id, key) for meter_id, key in keys.items()]
        for tenant, _meter_id, _key in placed:
            if tenant not in self._decoding:
                raise KeyImportError(f"tenant {tenant} forwards telegrams raw: it holds no keys")
        self._change((t, m, k) for t, m, k in placed)
        return [m for _t, m, _k in placed]

    def remove_keys(self, meter_ids: Iterable[str], scope: str | None) -> list[str]:
        """Remove the keys of these meters (all or none), held by ``scope``'s tenant (None:
        any tenant). A meter without a key in scope refuses the whole removal."""
        removals: list[tuple[str, str, bytes | None]] = []
        for meter_id in meter_ids:
            holders = [t for t in self._keys if meter_id in self._keys[t]]
            if scope is not None:
                holders = [t for t in holders if t == scope]
            if not holders:
                raise KeyImportError(f"meter {meter_id} has no key here")
            removals.extend((t, meter_id, None) for t in holders)
        self._change(removals)
        return sorted({m for _t, m, _k in removals})

    def _change(self, entries: Iterable[tuple[str, str, bytes | None]]) -> None:
        changes = list(entries)
        runtime = dict(self._runtime)
        for tenant, meter_id, key in changes:
            runtime.pop((tenant, meter_id), None)  # re-inserted last: file order is time order
            runtime[(tenant, meter_id)] = key
        self._save(runtime)  # on disk first: a failed write changes nothing in memory
        self._runtime = runtime
        for tenant, meter_id, key in changes:
            self._apply(tenant, meter_id, key)

    def _apply(self, tenant: str, meter_id: str, key: bytes | None) -> None:
        keys = self._keys[tenant]
        if key is None:
            keys.pop(meter_id, None)
        else:
            keys[meter_id] = key

    def _save(self, runtime: Mapping[tuple[str, str], bytes | None]) -> None:
        # Through a temporary file, fsynced, then renamed: never a half-written keys file.
        lines = [_HEADER] + [
            f"{tenant} {meter_id} {'-' if key is None else key.hex().upper()}\n"
            for (tenant, meter_id), key in runtime.items()
        ]
        body = "".join(lines).encode()
        if self._device_key is not None:
            body = keywrap.wrap(body, self._device_key)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
