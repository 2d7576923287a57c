"""Reading the configuration file: one-line errors, keys files, and warnings.

Every failure becomes a :class:`ConfigError` whose text is one line, ``FILE: KEY: REASON``
(config/README.md, "Validation and errors"), so that ``systemctl status`` and the journal
show the whole reason. Loading is pure: it returns a new :class:`Config` or raises, and a
daemon that fails to load a new file keeps running on the one it has (never half-applied).
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from concentratord.config.access import AccessConfig, RoleGrant
from concentratord.config.model import Config, tenant_key
from concentratord.config.sections import KeyedError
from concentratord.driver_files import DriverFileError, driver_registry
from protocols.meters.registry import Registry
from protocols.textformats import KeyFileError, parse_keys

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$|\s*\(at end of document\)$")
_TYPE_NAMES = {
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "tuple_type": "a list",
    "model_type": "a table",
    "model_attributes_type": "a table",
}


class ConfigError(Exception):
    """An unusable configuration; ``str()`` is the one line to print."""

    def __init__(self, file: str, key: str | None, reason: str) -> None:
        self.file = file
        self.key = key
        self.reason = reason
        line = f"{file}: {key}: {reason}" if key else f"{file}: {reason}"
        # One line whatever the reason says: a newline would split a journal entry.
        super().__init__(" ".join(line.split()))


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read, validate and return the configuration at ``path``; :class:`ConfigError` if not.

    The keys files are read too (and dropped), so a broken or exposed keys file stops the
    start rather than the first encrypted telegram; :func:`load_keys` gives them.
    """
    file = os.fspath(path)
    config = parse_config(_read_toml(file), file)
    _read_all_keys(config, file)
    load_drivers(config, file)
    return config


def load_drivers(config: Config, file: str) -> Registry:
    """The drivers to decode with: the package's and ``drivers.dir``'s (ConfigError naming
    the driver file and its key when one is not valid)."""
    try:
        return driver_registry(config.drivers.dir)
    except DriverFileError as err:
        raise ConfigError(file, "drivers.dir", str(err)) from None


def parse_config(data: dict[str, Any], file: str) -> Config:
    """Validate already-parsed TOML ``data`` that came from ``file`` (for relative paths)."""
    base_dir = os.path.dirname(os.path.abspath(file))
    try:
        return Config.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as err:
        errors = err.errors(include_url=False)
        key, reason = _describe(errors[0])
        if len(errors) > 1:
            reason += f" (and {len(errors) - 1} more)"
        raise ConfigError(file, key, reason) from None


def load_keys(config: Config, file: str) -> dict[str, dict[str, bytes]]:
    """Each tenant's keys by meter id (none for raw tenants); ``file`` names the config."""
    keys, _warnings = _read_all_keys(config, file)
    return keys


def check_config(path: str | os.PathLike[str]) -> list[str]:
    """Load the configuration like the daemon would; return its warnings, one line each.

    Raises :class:`ConfigError` when the daemon would refuse the file. The warnings name
    things that work but that an operator should know about.
    """
    file = os.fspath(path)
    config = load_config(file)
    _keys, warnings = _read_all_keys(config, file)
    notes: list[tuple[str, str]] = []
    if config.schedule.time_scale != 1.0:
        notes.append(
            ("schedule.time_scale", f"time runs {config.schedule.time_scale:g}x: tests only")
        )
    state_dir = config.gateway.state_dir.rstrip("/") + "/"
    if not config.storage.path.startswith(state_dir):
        notes.append(
            ("storage.path", "outside gateway.state_dir: the systemd unit may not write there")
        )
    world_readable = os.stat(file).st_mode & stat.S_IROTH
    for i, tenant in enumerate(config.tenants):
        where = f"{tenant_key(i)}.uplink" if config.tenant else "uplink"
        uplink = tenant.uplink
        if uplink.password is not None and not uplink.tls:
            notes.append((f"{where}.password", "sent unencrypted over mqtt://; use mqtts://"))
        if uplink.password is not None and world_readable:
            notes.append((f"{where}.password", "the file is readable by all users; chmod 640"))
    notes.extend(_unknown_accounts(config.access))
    return warnings + [f"{file}: {key}: {text}" for key, text in notes]


def _read_toml(file: str) -> dict[str, Any]:
    try:
        with open(file, "rb") as handle:
            return tomllib.load(handle)
    except OSError as err:
        raise ConfigError(file, None, f"cannot read: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(file, None, f"not UTF-8 text (byte {err.start})") from None
    except tomllib.TOMLDecodeError as err:
        message = str(err)
        match = _TOML_POSITION.search(message)
        reason = message[: match.start()] if match else message
        where: str | None = None
        if match:
            where = f"line {match[1]}, column {match[2]}" if match[1] else "end of file"
        raise ConfigError(file, where, f"invalid TOML: {reason}") from None


def _describe(error: ErrorDetails) -> tuple[str, str]:
    """The dotted key and the reason of one pydantic error."""
    parts: list[str] = []
    for item in error["loc"]:
        if isinstance(item, int):
            # Positions count from 1, as an operator counts the entries of a list.
            if parts:
                parts[-1] += f"[{item + 1}]"
        else:
            parts.append(str(item))
    kind = error["type"]
    ctx = error.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, KeyedError):
        parts.append(cause.key)
        return ".".join(parts) or "(top level)", cause.reason
    key = ".".join(parts) or "(top level)"
    got = error.get("input")
    if kind == "extra_forbidden":
        return key, "unknown key"
    if kind == "missing":
        return key, "required key missing"
    if kind == "tuple_type" and key == "tenant" and isinstance(got, dict):
        return key, "must be [[tenant]] tables (double brackets), not one [tenant] table"
    if kind in _TYPE_NAMES:
        return key, f"must be {_TYPE_NAMES[kind]}, got {_toml_type(got)} {_short(got)}"
    if kind == "too_short":
        least = ctx.get("min_length")
        return key, "must not be empty" if least == 1 else f"must have at least {least} entries"
    if kind == "literal_error":
        return key, f"must be one of {ctx.get('expected')}, got {got!r}"
    if kind == "value_error" and cause is not None:
        return key, str(cause)
    message = error["msg"]
    message = message.replace("Input should be", "must be").replace("Value error, ", "")
    return key, message[:1].lower() + message[1:]


def _short(value: object) -> str:
    # A whole table in an error line would bury the reason.
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _toml_type(value: object) -> str:
    names = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array"}
    names[dict] = "table"
    return names.get(type(value), type(value).__name__)


def _read_all_keys(config: Config, file: str) -> tuple[dict[str, dict[str, bytes]], list[str]]:
    """Each tenant's keys and the warnings about them; TLS files are checked readable."""
    keys: dict[str, dict[str, bytes]] = {}
    warnings: list[str] = []
    for i, tenant in enumerate(config.tenants):
        prefix = f"{tenant_key(i)}." if config.tenant else ""
        for name in ("ca_file", "cert_file", "key_file"):
            path = getattr(tenant.uplink, name)
            if path is not None:
                _read_private(path, file, f"{prefix}uplink.{name}", text=False)
        keys[tenant.name] = {}
        if tenant.keys_file is None:
            continue
        key = f"{prefix}keys_file" if config.tenant else "keys.file"
        text, mode = _read_private(tenant.keys_file, file, key)
        if mode & 0o077:
            reason = (
                f"{tenant.keys_file} is accessible by group or others (mode {mode:04o}): "
                "chmod 600 it"
            )
            if not config.keys.allow_insecure_permissions:
                raise ConfigError(file, key, reason + ", or set keys.allow_insecure_permissions")
            warnings.append(f"{file}: {key}: {reason}")
        try:
            keys[tenant.name] = parse_keys(text, tenant.keys_file)
        except KeyFileError as err:
            raise ConfigError(file, key, str(err)) from None
    return keys, warnings


def _read_private(path: str, file: str, key: str, *, text: bool = True) -> tuple[str, int]:
    """A file's text (when ``text``) and permission bits, taken from the same open file."""
    try:
        with open(path, "rb") as handle:
            mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
            data = handle.read()
    except OSError as err:
        raise ConfigError(file, key, f"cannot read {path}: {err.strerror or err}") from None
    if not text:
        return "", mode
    try:
        return data.decode("utf-8"), mode
    except UnicodeDecodeError as err:
        raise ConfigError(file, key, f"{path}: not UTF-8 text (byte {err.start})") from None


def _unknown_accounts(access: AccessConfig) -> Sequence[tuple[str, str]]:
    notes: list[tuple[str, str]] = []
    for role in ("user", "superuser", "administrator"):
        grant: RoleGrant = getattr(access, role)
        for kind, accounts in (("users", grant.users), ("groups", grant.groups)):
            for account in accounts:
                if isinstance(account, str) and not grant.resolves(kind, account):
                    notes.append((f"access.{role}.{kind}", f"no such {kind[:-1]}: {account!r}"))
    return notes
