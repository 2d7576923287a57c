"""The daemon's configuration: one TOML file, validated whole before anything uses it.

``load_config(path)`` returns a :class:`Config` or raises :class:`ConfigError`, whose text is
one line ``FILE: KEY: REASON``. ``check_config(path)`` does the same and returns warnings.
``profile_limits(profile)`` gives a hardware profile's limits and defaults. Every key is
documented in config/README.md.
"""

from concentratord.config.access import AccessConfig, RoleGrant
from concentratord.config.loader import (
    ConfigError,
    check_config,
    load_config,
    load_drivers,
    load_keys,
    parse_config,
)
from concentratord.config.meters import normalise_id, normalise_pattern
from concentratord.config.model import DEFAULT_TENANT, Config
from concentratord.config.profiles import (
    PRIORITY_METERS_MAX,
    PROFILES,
    ProfileLimits,
    profile_limits,
)
from concentratord.config.sections import (
    ROLES,
    ControlConfig,
    GatewayConfig,
    KeysConfig,
    LimitsConfig,
    RadioConfig,
    Role,
    ScheduleConfig,
    StorageConfig,
    TenantConfig,
    UplinkConfig,
)

__all__ = [
    "DEFAULT_TENANT",
    "PRIORITY_METERS_MAX",
    "PROFILES",
    "ROLES",
    "AccessConfig",
    "Config",
    "ConfigError",
    "ControlConfig",
    "GatewayConfig",
    "KeysConfig",
    "LimitsConfig",
    "ProfileLimits",
    "RadioConfig",
    "Role",
    "RoleGrant",
    "ScheduleConfig",
    "StorageConfig",
    "TenantConfig",
    "UplinkConfig",
    "check_config",
    "load_config",
    "load_drivers",
    "load_keys",
    "normalise_id",
    "normalise_pattern",
    "parse_config",
    "profile_limits",
]
