"""Broker connection settings: URL, credentials, TLS files, keepalive, protocol, limits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from uplink.topics import TopicError, check_reply_prefix

Protocol = Literal["auto", "5", "3.1.1"]
PROTOCOLS: tuple[Protocol, ...] = ("auto", "5", "3.1.1")

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


class SettingsError(ValueError):
    """A broker setting is invalid; the message names the setting and the reason."""


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """How to reach one tenant's broker.

    ``url`` is ``mqtt://host[:port]`` (plain TCP, default port 1883) or
    ``mqtts://host[:port]`` (TLS, default port 8883). With ``mqtts`` the server certificate
    is checked against ``ca_file`` (or the system store when it is unset); ``cert_file`` and
    ``key_file`` give a client certificate. Delays are seconds.

    ``reply_prefix`` is where replies named by this tenant's head-end may go (a literal topic
    prefix; the configuration has already replaced its ``{prefix}`` placeholder); None means
    ``{prefix}/headend/`` of the uplink's topic prefix. That it does not overlap the gateway
    tree is checked by :class:`uplink.topics.Topics`, which knows the topic prefix.
    """

    url: str
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    keepalive: int = 60
    client_id: str | None = None
    protocol: Protocol = "auto"
    max_inflight: int = 20
    reconnect_min_delay: float = 1.0
    reconnect_max_delay: float = 120.0
    connect_timeout: float = 10.0
    reply_prefix: str | None = None

    def __post_init__(self) -> None:
        # Validate at construction so a bad configuration is refused at start, not at the
        # first connection attempt hours later.
        parse_broker_url(self.url)
        if self.protocol not in PROTOCOLS:
            raise SettingsError(f"protocol: {self.protocol!r} is not one of {', '.join(PROTOCOLS)}")
        if self.password is not None and self.username is None:
            raise SettingsError("password: set without username")
        if (self.cert_file is None) != (self.key_file is None):
            raise SettingsError("cert_file/key_file: a client certificate needs both")
        if any(f is not None for f in (self.ca_file, self.cert_file)) and not self.tls:
            raise SettingsError(f"url: TLS files are set but {self.url!r} is not mqtts://")
        if not 5 <= self.keepalive <= 65535:
            raise SettingsError(f"keepalive: {self.keepalive} is not within 5..65535 seconds")
        if not 1 <= self.max_inflight <= 65535:
            raise SettingsError(f"max_inflight: {self.max_inflight} is not within 1..65535")
        if not 0 < self.reconnect_min_delay <= self.reconnect_max_delay:
            raise SettingsError(
                "reconnect_min_delay/reconnect_max_delay: need 0 < min <= max, got "
                f"{self.reconnect_min_delay} and {self.reconnect_max_delay}"
            )
        if self.connect_timeout <= 0:
            raise SettingsError(f"connect_timeout: {self.connect_timeout} is not positive")
        if self.client_id is not None and not 1 <= len(self.client_id.encode()) <= 65535:
            raise SettingsError("client_id: must be 1..65535 bytes of UTF-8")
        if self.reply_prefix is not None:
            try:
                check_reply_prefix(self.reply_prefix)
            except TopicError as exc:
                raise SettingsError(f"reply_prefix: {exc}") from None

    @property
    def tls(self) -> bool:
        """Whether the URL asks for TLS (``mqtts://``)."""
        return parse_broker_url(self.url)[0] == "mqtts"

    @property
    def host(self) -> str:
        """The broker host name or address."""
        return parse_broker_url(self.url)[1]

    @property
    def port(self) -> int:
        """The broker port (the scheme's default when the URL has none)."""
        return parse_broker_url(self.url)[2]

    def check_files(self) -> None:
        """Raise :class:`SettingsError` naming the first TLS file that cannot be read."""
        for name in ("ca_file", "cert_file", "key_file"):
            value = getattr(self, name)
            if value is not None and not Path(value).is_file():
                raise SettingsError(f"{name}: {value!r} is not a readable file")


def parse_broker_url(url: str) -> tuple[str, str, int]:
    """Split ``mqtt[s]://host[:port]`` into (scheme, host, port); raise :class:`SettingsError`."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise SettingsError(f"url: {url!r} is not a valid URL ({exc})") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise SettingsError(f"url: {url!r} must start with mqtt:// or mqtts://")
    if not parts.hostname:
        raise SettingsError(f"url: {url!r} has no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise SettingsError(f"url: {url!r} must be scheme://host[:port] with no path or query")
    if parts.username is not None or parts.password is not None:
        # Credentials in a URL end up in logs; they belong in username/password.
        raise SettingsError(f"url: put credentials in username/password, not in {url!r}")
    if port == 0:
        raise SettingsError(f"url: {url!r} has port 0")
    return parts.scheme, parts.hostname, port if port is not None else DEFAULT_PORTS[parts.scheme]
