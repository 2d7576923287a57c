"""The whole configuration: the tables together and the checks that span them."""

from __future__ import annotations

import os
from functools import cached_property
from typing import Annotated, Any

from pydantic import Field, model_validator

from concentratord.config.access import AccessConfig
from concentratord.config.bridge import BridgeConfig
from concentratord.config.drivers import DriversConfig
from concentratord.config.field_view import VisibilityConfig, WebConfig
from concentratord.config.mbus import MbusConfig
from concentratord.config.meters import find_overlap, is_exact, matches
from concentratord.config.operations import LogConfig, MetricsConfig, WatchdogConfig
from concentratord.config.profiles import (
    PRIORITY_METERS_MAX,
    PROFILES,
    ProfileLimits,
    profile_limits,
)
from concentratord.config.sections import (
    DEFAULT_STATE_DIR,
    ClockConfig,
    ControlConfig,
    GatewayConfig,
    KeyedError,
    KeysConfig,
    LimitsConfig,
    RadioConfig,
    ScheduleConfig,
    Section,
    StorageConfig,
    TenantConfig,
    UplinkConfig,
    check_reply_prefixes,
)
from uplink.settings import BrokerSettings

DEFAULT_TENANT = "default"


def tenant_key(index: int) -> str:
    """How messages name the ``index``-th (0-based) ``[[tenant]]`` table: counted from 1."""
    return f"tenant[{index + 1}]"


def display(template: str) -> str:
    """A normalised meter template as an operator writes it (``7634????`` -> ``7634*``,
    ``KAM:7634????`` -> ``KAM:7634*``)."""
    stem = template.rstrip("?")
    return template if stem == template else stem + "*"


class Config(Section):
    """The daemon's configuration, validated; build it with :func:`load_config`."""

    gateway: GatewayConfig
    radio: RadioConfig = RadioConfig()
    keys: KeysConfig = KeysConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    clock: ClockConfig = ClockConfig()
    uplink: UplinkConfig | None = None
    tenant: Annotated[tuple[TenantConfig, ...], Field(strict=False)] = ()
    storage: StorageConfig = StorageConfig()
    control: ControlConfig = ControlConfig()
    access: AccessConfig = AccessConfig()
    log: LogConfig = LogConfig()
    metrics: MetricsConfig | None = None  # /metrics is off without [metrics]
    watchdog: WatchdogConfig = WatchdogConfig()
    limits: LimitsConfig = LimitsConfig()
    visibility: VisibilityConfig = VisibilityConfig()
    web: WebConfig | None = None  # the web server is off without [web]
    bridge: BridgeConfig | None = None  # a bridge duty-cycles only with [bridge]
    drivers: DriversConfig = DriversConfig()
    mbus: Annotated[tuple[MbusConfig, ...], Field(strict=False)] = ()  # wired buses polled

    @model_validator(mode="before")
    @classmethod
    def _profile_defaults(cls, data: Any) -> Any:
        """Fill the profile-sized defaults before validation, on a copy of the input.

        Done here rather than after validation so that the validated fields are plain
        ``int`` rather than ``int | None``. Malformed input is passed through untouched:
        validation then reports it.
        """
        if not isinstance(data, dict):
            return data
        gateway = data.get("gateway")
        if not isinstance(gateway, dict):
            return data
        profile = gateway.get("profile", "concentrator")
        if not isinstance(profile, str) or profile not in PROFILES:
            return data
        limits = profile_limits(profile)
        data = dict(data)
        section = data.get("limits", {})
        if isinstance(section, dict):
            data["limits"] = {
                "max_meters": limits.max_meters,
                "max_heat_meters": min(
                    limits.max_heat_meters, section.get("max_meters", limits.max_heat_meters)
                )
                if isinstance(section.get("max_meters", 0), int)
                else limits.max_heat_meters,
                "frame_queue": limits.frame_queue,
                "visible_meters": limits.visible_meters,
                "memory_bytes": limits.memory_bytes,
                **section,
            }
        section = data.get("storage", {})
        state_dir = gateway.get("state_dir", DEFAULT_STATE_DIR)
        if isinstance(section, dict) and isinstance(state_dir, str):
            data["storage"] = {
                "max_bytes": limits.storage_max_bytes,
                "path": os.path.join(state_dir, "store.sqlite"),
                **section,
            }
        return data

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        self._check_tenancy()
        self._check_limits()
        self._check_web_tenants()
        self._check_bridge()
        self._check_mbus_ports()
        return self

    def _check_mbus_ports(self) -> None:
        ports = {self.radio.port: "radio.port"}
        for i, bus in enumerate(self.mbus, start=1):
            other = ports.get(bus.port)
            if other is not None:
                raise KeyedError(f"mbus[{i}].port", f"{bus.port} is also {other}")
            ports[bus.port] = f"mbus[{i}].port"

    def _check_bridge(self) -> None:
        if self.bridge is not None and self.gateway.profile != "bridge":
            raise KeyedError(
                "bridge", f'only with profile = "bridge", not "{self.gateway.profile}"'
            )
        if self.bridge is not None and self.mbus:
            # A wired bus powers its meters from the converter: mains, polled around the
            # clock; a battery bridge's silence is judged on its radio's listening windows.
            raise KeyedError("mbus", "a battery bridge ([bridge]) polls no wired bus")

    def _check_tenancy(self) -> None:
        if not self.tenant:
            if self.uplink is None:
                raise KeyedError("uplink", "missing: give [uplink], or [[tenant]] tables")
            return
        if self.uplink is not None:
            raise KeyedError("uplink", "not used with [[tenant]]: each has its [tenant.uplink]")
        if self.keys.file is not None:
            raise KeyedError("keys.file", "not used with [[tenant]]: give tenants a keys_file")
        index: dict[str, int] = {}
        for i, tenant in enumerate(self.tenant):
            if tenant.name in index:
                other = tenant_key(index[tenant.name])
                raise KeyedError(f"{tenant_key(i)}.name", f"{tenant.name!r} is also {other}")
            index[tenant.name] = i
        clash = find_overlap((t.name, t.meters) for t in self.tenant)
        if clash is not None:
            first, second = clash
            if is_exact(second.template):
                what = f"meter {second.template}"
            elif is_exact(first.template):
                what = f"meter {first.template}"
            else:
                what = f"meters matching {display(first.template)} and {display(second.template)}"
            raise KeyedError(
                f"{tenant_key(index[second.tenant])}.meters",
                f"{what} in both tenant {first.tenant!r} and tenant {second.tenant!r}",
            )
        check_reply_prefixes(self.tenant, tenant_key)
        for k, meter in enumerate(self.schedule.priority_meters):
            if self.tenant_for(meter) is None:
                raise KeyedError(f"schedule.priority_meters[{k + 1}]", f"{meter} is in no tenant")

    def _check_web_tenants(self) -> None:
        names = {t.name for t in self.tenants}
        for i, token in enumerate(self.web.token if self.web is not None else ()):
            if token.tenant is not None and token.tenant not in names:
                raise KeyedError(f"web.token[{i + 1}].tenant", f"no tenant {token.tenant!r}")

    def _check_limits(self) -> None:
        limits = self.profile_limits
        name = self.gateway.profile
        if self.limits.max_meters > limits.max_meters:
            raise KeyedError(
                "limits.max_meters",
                f"profile {name} allows at most {limits.max_meters}, got {self.limits.max_meters}",
            )
        if self.limits.max_heat_meters > limits.max_heat_meters:
            raise KeyedError(
                "limits.max_heat_meters",
                f"profile {name} allows at most {limits.max_heat_meters} heat and cooling "
                f"meters, got {self.limits.max_heat_meters}",
            )
        if self.limits.visible_meters < self.limits.max_meters:
            raise KeyedError(
                "limits.visible_meters",
                f"must be at least limits.max_meters ({self.limits.max_meters}): every meter "
                "served is tracked",
            )
        cap = min(PRIORITY_METERS_MAX, limits.priority_meters, self.limits.max_meters)
        count = len(self.schedule.priority_meters)
        if count > cap:
            why = "" if cap == PRIORITY_METERS_MAX else f" on profile {name}"
            raise KeyedError("schedule.priority_meters", f"at most {cap} meters{why}, got {count}")
        # Patterns cannot be counted here; the pipeline stops admitting meters at the limit.
        total = 0
        for i, tenant in enumerate(self.tenant):
            listed = sum(1 for m in tenant.meters if is_exact(m))
            total += listed
            if listed > self.limits.max_meters or total > self.limits.max_meters:
                where = f"{tenant_key(i)}.meters"
                raise KeyedError(
                    where,
                    f"at most {self.limits.max_meters} meters on profile {name} "
                    f"(limits.max_meters), got {total} up to here",
                )

    @property
    def profile_limits(self) -> ProfileLimits:
        """The limits of this gateway's profile."""
        return profile_limits(self.gateway.profile)

    @cached_property
    def tenants(self) -> tuple[TenantConfig, ...]:
        """The tenants, with the implicit ``default`` tenant when no ``[[tenant]]`` is given.

        The implicit tenant takes every meter, sends decoded values over ``[uplink]`` and
        uses ``[keys]``.
        """
        if self.tenant:
            return self.tenant
        assert self.uplink is not None  # guaranteed by _check_tenancy
        default = TenantConfig(
            name=DEFAULT_TENANT,
            meters=("????????",),
            payload="decoded",
            uplink=self.uplink,
            keys_file=self.keys.file,
        )
        return (default,)

    def client_id(self, tenant: TenantConfig) -> str:
        """The MQTT client id of a tenant's connection: as configured, else derived."""
        return tenant.uplink.client_id or f"concentratord-{self.gateway.id}-{tenant.name}"

    def broker_settings(self, tenant: TenantConfig) -> BrokerSettings:
        """The uplink client's settings for a tenant's connection."""
        uplink = tenant.uplink
        password = uplink.password.get_secret_value() if uplink.password else None
        return BrokerSettings(
            url=uplink.broker,
            username=uplink.username,
            password=password,
            ca_file=uplink.ca_file,
            cert_file=uplink.cert_file,
            key_file=uplink.key_file,
            keepalive=uplink.keepalive,
            client_id=self.client_id(tenant),
            protocol=uplink.protocol,
            max_inflight=uplink.max_inflight,
            reconnect_min_delay=uplink.reconnect_min_delay,
            reconnect_max_delay=uplink.reconnect_max_delay,
            connect_timeout=uplink.connect_timeout,
            reply_prefix=uplink.reply_prefix,
        )

    def tenant_for(self, meter_id: str, manufacturer: str | None = None) -> TenantConfig | None:
        """The tenant a meter belongs to, or None when it belongs to no tenant.

        Without ``manufacturer``: the tenant of that id of some manufacturer. Tenants never
        overlap (checked at load), so the first match is the only one.
        """
        meter = meter_id.upper()
        for tenant in self.tenants:
            if any(matches(m, meter, manufacturer) for m in tenant.meters):
                return tenant
        return None
