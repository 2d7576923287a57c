"""The tables of the configuration file, one pydantic model each.

Every model forbids unknown keys (a misspelt key must not be silently ignored) and is
strict: TOML already has types, so ``"60"`` for an integer is a mistake worth reporting
rather than coercing. Checks that involve several tables live in :mod:`.model`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from concentratord.config.meters import normalise_id, normalise_pattern
from concentratord.config.profiles import Profile, profile_limits
from concentratord.timekeeping import TIMESYNCD_FLAG
from radio.modules.registry import MODULE_NAMES
from uplink.codecs import CODECS
from uplink.topics import DEFAULT_REPLY_PREFIX, TopicError, check_reply_prefix

Role = Literal["user", "superuser", "administrator"]
ROLES: tuple[Role, ...] = ("user", "superuser", "administrator")  # lowest first
DEFAULT_STATE_DIR = "/var/lib/concentratord"
DEFAULT_SOCKET = "/run/concentratord/control.sock"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class KeyedError(ValueError):
    """A check failing on ``key`` (dotted, relative to the model that raised it)."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(reason)
        self.key = key
        self.reason = reason


def _path(value: str, info: ValidationInfo) -> str:
    # Relative paths are taken from the configuration file's directory (the loader passes
    # it as context), so a demo configuration works from wherever it is started.
    if not value:
        raise ValueError("must not be empty")
    if os.path.isabs(value):
        return os.path.normpath(value)
    base = (info.context or {}).get("base_dir")
    if not isinstance(base, str):
        raise ValueError(f"must be an absolute path, got {value!r}")
    return os.path.normpath(os.path.join(base, value))


def _name(value: str) -> str:
    # Gateway ids and tenant names go into MQTT topics and client ids: no '/', '+', '#'.
    if not _NAME.fullmatch(value):
        raise ValueError(f"must be 1-64 letters, digits, '.', '_' or '-', got {value!r}")
    return value


def _topic_prefix(value: str) -> str:
    levels = value.split("/")
    if not value or any(not level for level in levels):
        raise ValueError(f"must be topic levels separated by single '/', got {value!r}")
    if any(c in value for c in "+#\0"):
        raise ValueError(f"must not contain '+', '#' or NUL, got {value!r}")
    return value


def _shown_url(value: str) -> str:
    """``value`` for an error message: a password in it replaced by ``***``."""
    parts = urlsplit(value)
    if parts.password is None:
        return value
    userinfo, _, host = parts.netloc.rpartition("@")
    return parts._replace(netloc=f"{userinfo.partition(':')[0]}:***@{host}").geturl()


def _broker(value: str) -> str:
    parts = urlsplit(value)
    shown = _shown_url(value)  # error messages go to the journal: never a password
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError(f"must start with mqtt:// or mqtts://, got {shown!r}")
    try:
        parts.port  # noqa: B018 - property access validates the port
    except ValueError:
        raise ValueError(f"has an invalid port: {shown!r}") from None
    if not parts.hostname:
        raise ValueError(f"names no host: {shown!r}")
    if parts.port == 0:
        raise ValueError(f"has port 0: {shown!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(
            f"must be mqtt[s]://HOST[:PORT] only (credentials go in username/password): {shown!r}"
        )
    return value


def _module(value: str) -> str:
    # Derived from the driver registry: a new module family needs no change here.
    if value not in MODULE_NAMES:
        raise ValueError(f"{value!r} is not one of {', '.join(MODULE_NAMES)}")
    return value


def _codec(value: str) -> str:
    if value not in CODECS:
        raise ValueError(f"{value!r} is not one of {', '.join(CODECS)}")
    return value


PathStr = Annotated[str, AfterValidator(_path)]
Name = Annotated[str, AfterValidator(_name)]
MeterId = Annotated[str, AfterValidator(normalise_id)]
MeterPattern = Annotated[str, AfterValidator(normalise_pattern)]


class Section(BaseModel):
    """Base of every table: unknown keys refused, no type coercion, immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class GatewayConfig(Section):
    """``[gateway]``: who this gateway is and what hardware it runs on."""

    id: Name
    profile: Profile = "concentrator"
    state_dir: PathStr = DEFAULT_STATE_DIR


class RadioConfig(Section):
    """``[radio]``: the radio module and how it listens."""

    module: Annotated[str, AfterValidator(_module)] = "auto"
    port: str = "/dev/ttyUSB0"
    mode: Literal["c1", "t1", "c1t1", "s1"] = "c1"

    @model_validator(mode="after")
    def _port(self) -> RadioConfig:
        # rtl_wmbus may read a command's output instead of a device (radio.modules.rtlwmbus).
        if self.port.startswith("cmd:"):
            if self.module != "rtlwmbus":
                raise KeyedError("port", "'cmd:' ports are for module = \"rtlwmbus\" only")
            if not self.port[4:].strip():
                raise KeyedError("port", "'cmd:' names no command")
        elif not os.path.isabs(self.port):
            raise KeyedError(
                "port", f"must be an absolute device path or 'cmd:...', got {self.port!r}"
            )
        return self


class KeysConfig(Section):
    """``[keys]``: the AES keys of the default tenant's meters."""

    file: PathStr | None = None
    # Keys must be readable by the daemon alone (docs/design.md, "No one sees what is not
    # theirs"); this is the escape hatch for a test bench or a filesystem without Unix
    # permissions, and it is warned about.
    allow_insecure_permissions: bool = False
    # Wrap the runtime keys file (keys.local) at rest with a device key (docs/access.md):
    # the name of a systemd credential (LoadCredential=NAME:PATH), or a key file.
    wrap_credential: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = None
    wrap_key_file: PathStr | None = None

    @model_validator(mode="after")
    def _one_wrapping(self) -> KeysConfig:
        if self.wrap_credential is not None and self.wrap_key_file is not None:
            raise KeyedError("wrap_key_file", "give wrap_credential or wrap_key_file, not both")
        return self


class ScheduleConfig(Section):
    """``[schedule]``: which interval values are taken and how fast time runs."""

    priority_meters: Annotated[tuple[MeterId, ...], Field(strict=False)] = ()
    hourly: bool = True
    daily: bool = True
    time_scale: Annotated[float, Field(gt=0, le=86_400)] = 1.0
    # Tests and demos that share simulated time between processes: at real epoch time
    # time_origin_real the gateway's clock reads time_origin_sim. Unset: it reads real time
    # at start-up and runs time_scale times faster from there.
    time_origin_real: float | None = None
    time_origin_sim: float | None = None

    @model_validator(mode="after")
    def _unique(self) -> ScheduleConfig:
        if (self.time_origin_real is None) != (self.time_origin_sim is None):
            raise KeyedError(
                "time_origin_sim", "give time_origin_real and time_origin_sim together"
            )
        seen: set[str] = set()
        for meter in self.priority_meters:
            if meter in seen:
                raise KeyedError("priority_meters", f"meter {meter} is listed twice")
            seen.add(meter)
        return self


class ClockConfig(Section):
    """``[clock]``: how the daemon knows its clock is right (decision 0006).

    ``source``: ``system`` (systemd-timesyncd's flag file, else the kernel's NTP status),
    ``file`` (only ``synchronised_file``: another NTP client touches it), or ``trusted`` (a
    battery-backed RTC or a GPS keeps the clock right; also for simulated time).
    """

    source: Literal["system", "file", "trusted"] = "system"
    synchronised_file: PathStr = TIMESYNCD_FLAG


class UplinkConfig(Section):
    """``[uplink]`` or ``[tenant.uplink]``: one MQTT head-end connection."""

    broker: Annotated[str, AfterValidator(_broker)]
    prefix: Annotated[str, AfterValidator(_topic_prefix)] = "concentratord"
    codec: Annotated[str, AfterValidator(_codec)] = "json"
    username: str | None = None
    password: SecretStr | None = None  # SecretStr: never printed in logs or reprs
    ca_file: PathStr | None = None
    cert_file: PathStr | None = None
    key_file: PathStr | None = None
    keepalive: Annotated[int, Field(ge=5, le=65_535)] = 60
    client_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    protocol: Literal["auto", "5", "3.1.1"] = "auto"
    max_inflight: Annotated[int, Field(ge=1, le=65_535)] = 20
    # 200 x 500 meters: a 7-day backlog of 30,000 meters (10,080 messages) in about 50 s.
    backlog_rate: Annotated[float, Field(gt=0, le=10_000)] = 300.0
    batch_meters: Annotated[int, Field(ge=1, le=10_000)] = 500
    connect_timeout: Annotated[float, Field(gt=0, le=600)] = 10.0
    reconnect_min_delay: Annotated[float, Field(gt=0, le=3600)] = 1.0
    reconnect_max_delay: Annotated[float, Field(gt=0, le=86_400)] = 120.0
    # Where replies named by the head-end may go; "{prefix}" is replaced by prefix above.
    # Validated even when defaulted, so the field always holds the resolved prefix.
    reply_prefix: Annotated[str, Field(validate_default=True)] = DEFAULT_REPLY_PREFIX
    # Home Assistant MQTT discovery of this tenant's meters (docs/uplink.md).
    homeassistant: bool = False
    homeassistant_prefix: Annotated[str, AfterValidator(_topic_prefix)] = "homeassistant"

    @field_validator("reply_prefix")
    @classmethod
    def _reply_prefix(cls, value: str, info: ValidationInfo) -> str:
        prefix = info.data.get("prefix")
        if not isinstance(prefix, str):
            return value  # prefix itself failed validation: that error is reported
        try:
            return check_reply_prefix(value.replace("{prefix}", prefix), prefix)
        except TopicError as exc:
            raise ValueError(str(exc)) from None

    @property
    def tls(self) -> bool:
        """Whether the connection uses TLS (``mqtts://``)."""
        return urlsplit(self.broker).scheme == "mqtts"

    @property
    def host(self) -> str:
        """The broker's host name or address."""
        return urlsplit(self.broker).hostname or ""

    @property
    def port(self) -> int:
        """The broker's TCP port: as given, else 8883 for TLS and 1883 without."""
        return urlsplit(self.broker).port or (8883 if self.tls else 1883)

    @model_validator(mode="after")
    def _consistent(self) -> UplinkConfig:
        if (self.cert_file is None) != (self.key_file is None):
            missing = "key_file" if self.key_file is None else "cert_file"
            raise KeyedError(missing, "cert_file and key_file go together")
        for key in ("ca_file", "cert_file"):
            if getattr(self, key) is not None and not self.tls:
                raise KeyedError(key, "TLS files need an mqtts:// broker")
        if self.password is not None and self.username is None:
            raise KeyedError("password", "a password needs a username")
        if self.reconnect_max_delay < self.reconnect_min_delay:
            raise KeyedError("reconnect_max_delay", "must be at least reconnect_min_delay")
        if self.homeassistant and self.codec != "json":
            raise KeyedError("homeassistant", 'Home Assistant reads JSON: needs codec = "json"')
        return self


class TenantConfig(Section):
    """``[[tenant]]``: one utility sharing the gateway, with its meters and head-end."""

    name: Name
    meters: Annotated[tuple[MeterPattern, ...], Field(strict=False)] = ()
    # Also the meters whose keys this tenant supplied (a utility joins by bringing its keys).
    meters_from_keys: bool = False
    payload: Literal["decoded", "raw"] = "decoded"
    uplink: UplinkConfig
    keys_file: PathStr | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TenantConfig:
        if not self.meters and not self.meters_from_keys:
            raise KeyedError("meters", "give the tenant's meters, or meters_from_keys = true")
        if self.payload == "raw" and self.keys_file is not None:
            raise KeyedError("keys_file", 'a raw tenant holds no keys: remove it or use "decoded"')
        if self.payload == "raw" and self.meters_from_keys:
            raise KeyedError("meters_from_keys", "a raw tenant supplies no keys")
        if self.payload == "raw" and self.uplink.homeassistant:
            raise KeyedError("uplink.homeassistant", "a raw tenant has no decoded values to show")
        seen: set[str] = set()
        for meter in self.meters:
            if meter in seen:
                raise KeyedError("meters", f"{meter} is listed twice")
            seen.add(meter)
        return self


def check_reply_prefixes(tenants: Sequence[TenantConfig], key: Callable[[int], str]) -> None:
    """Refuse (:class:`KeyedError`, under ``key(index)``) a tenant whose reply prefix meets
    the topic tree of a tenant with another prefix: in it, or containing it.

    Tenants sharing a prefix share its tree, so only different prefixes are compared. A
    tenant's own gateway tree is checked by :class:`UplinkConfig`.
    """
    for i, tenant in enumerate(tenants):
        mine = tenant.uplink.reply_prefix
        for other in tenants:
            theirs = other.uplink.prefix
            if other is tenant or theirs == tenant.uplink.prefix:
                continue
            tree = theirs + "/"
            if mine.startswith(tree) or tree.startswith(mine):
                raise KeyedError(
                    f"{key(i)}.uplink.reply_prefix",
                    f"{mine!r} meets the topics of tenant {other.name!r} (prefix {theirs!r})",
                )


class ControlConfig(Section):
    """``[control]``: the local control socket (who may use it: ``[access]``)."""

    socket: PathStr = DEFAULT_SOCKET
    socket_mode: Annotated[int, Field(ge=0, le=0o777)] = 0o660

    @model_validator(mode="before")
    @classmethod
    def _roles_moved(cls, data: object) -> object:
        if isinstance(data, dict):
            for role in ROLES:
                if role in data:
                    raise KeyedError(role, f"roles are given in [access.{role}] now")
        return data


_CONCENTRATOR = profile_limits("concentrator")


class LimitsConfig(Section):
    """``[limits]``: resource bounds. Defaults come from the profile (see .profiles)."""

    max_meters: Annotated[int, Field(ge=1)] = _CONCENTRATOR.max_meters
    max_heat_meters: Annotated[int, Field(ge=1)] = _CONCENTRATOR.max_heat_meters
    frame_queue: Annotated[int, Field(ge=16, le=1_000_000)] = _CONCENTRATOR.frame_queue
    visible_meters: Annotated[int, Field(ge=1, le=10_000_000)] = _CONCENTRATOR.visible_meters
    memory_bytes: Annotated[int, Field(ge=16 * 1024 * 1024)] = _CONCENTRATOR.memory_bytes

    @model_validator(mode="before")
    @classmethod
    def _removed(cls, data: object) -> object:
        if isinstance(data, dict) and "uplink_queue" in data:
            raise KeyedError(
                "uplink_queue",
                "removed: nothing is queued in memory for the uplink (publishers read the "
                "store, at most uplink.max_inflight at a time); delete the key",
            )
        return data


class StorageConfig(Section):
    """``[storage]``: the SQLite store, its bound and how long data stays."""

    path: PathStr = DEFAULT_STATE_DIR + "/store.sqlite"
    max_bytes: Annotated[int, Field(ge=1024 * 1024)] = _CONCENTRATOR.storage_max_bytes
    backfill_days: Annotated[int, Field(ge=0, le=3660)] = 31
    retention_raw_months: Annotated[int, Field(ge=1, le=1200)] = 13
    retention_daily_years: Annotated[int, Field(ge=1, le=100)] = 10

    @model_validator(mode="after")
    def _ordered(self) -> StorageConfig:
        # Retention thins data: raw values first, daily values later, never the reverse.
        if self.retention_daily_years * 12 < self.retention_raw_months:
            raise KeyedError("retention_daily_years", "must be at least retention_raw_months")
        return self
