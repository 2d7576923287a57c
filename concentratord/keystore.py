"""The AES keys of each tenant's meters, and the only writer of them.

Configured keys come from the keys files (``[keys] file``, ``[[tenant]] keys_file``); keys
added or removed through ``concentratorctl keys`` are written to ``keys.local`` in the state
directory (mode 0600, durably) and applied again at start. Each tenant's decoder reads its
tenant's keys through :meth:`KeyStore.keys_of`, a live read-only view: a key added here is
used from the next telegram on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

from protocols.textformats import parse_keys

LOCAL_KEYS = "keys.local"


class KeyStore:
    """Keys by tenant and meter id; ``owner(meter_id)`` names the tenant of a meter."""

    def __init__(
        self,
        configured: Mapping[str, Mapping[str, bytes]],
        *,
        tenants: Mapping[str, bool],
        owner: Callable[[str], str | None],
        state_dir: str | os.PathLike[str],
    ) -> None:
        """``tenants``: tenant name -> whether it decodes (a raw tenant holds no keys)."""
        self._keys: dict[str, dict[str, bytes]] = {
            name: dict(configured.get(name, {})) for name in tenants
        }
        self._decoding = {name for name, decodes in tenants.items() if decodes}
        self._owner = owner
        self.local_path = Path(state_dir) / LOCAL_KEYS

    def keys_of(self, tenant: str) -> Mapping[str, bytes]:
        """A live, read-only view of ``tenant``'s keys (for its decoder)."""
        return MappingProxyType(self._keys[tenant])

    def decoding_tenant(self, meter_id: str) -> str | None:
        """The tenant that decodes ``meter_id``'s telegrams (None: none, or a raw one)."""
        tenant = self._owner(meter_id)
        return tenant if tenant in self._decoding else None

    def load_local(self) -> None:
        """Apply the keys added earlier through the control socket."""
        if not self.local_path.exists():
            return
        text = self.local_path.read_text()
        for meter_id, key in parse_keys(text, str(self.local_path)).items():
            tenant = self.decoding_tenant(meter_id.rpartition(":")[2])  # ID or MAN:ID
            if tenant is not None:
                self._keys[tenant][meter_id] = key

    def listing(self) -> list[dict[str, str]]:
        """Which meters have a key, by tenant: ids only, never key material."""
        return [
            {"tenant": tenant, "id": meter_id}
            for tenant, keys in self._keys.items()
            for meter_id in sorted(keys)
        ]

    def add(self, tenant: str, meter_id: str, key: bytes) -> None:
        """Add or replace a meter's key, durably."""
        self._keys[tenant][meter_id] = key
        self._save()

    def remove(self, tenant: str, meter_id: str) -> bool:
        """Remove a meter's key, durably; whether it had one."""
        removed = self._keys[tenant].pop(meter_id, None) is not None
        self._save()
        return removed

    def _save(self) -> None:
        # Every key the gateway holds now, so that a restart comes back to the same keys;
        # through a temporary file, fsynced, then renamed: never a half-written keys file.
        path = self.local_path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("# keys added with concentratorctl keys add\n")
            for keys in self._keys.values():
                for meter_id, key in sorted(keys.items()):
                    f.write(f"{meter_id} {key.hex().upper()}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
