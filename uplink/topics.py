"""The MQTT topic tree of DESIGN.md §4 and docs/uplink.md.

``{prefix}/gateway/{gw}/state``, ``.../event/alarm``, ``.../event/readings``,
``.../event/stats``, ``.../command/{name}`` (down) and ``.../reply/{name}`` (up).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_PREFIX = "concentratord"

# A topic level that is safe to build into a topic: no wildcards, no separators, no NUL,
# and not starting with '$' (reserved for the broker's own topics).
_LEVEL = re.compile(r"^[^/#+\x00$][^/#+\x00]*$")
# A prefix may have several levels.
_PREFIX = re.compile(r"^[^/#+\x00$][^#+\x00]*$")


class TopicError(ValueError):
    """A prefix, gateway id, command name or topic is not usable."""


def _check_level(what: str, value: str) -> str:
    if not _LEVEL.match(value):
        raise TopicError(f"{what} {value!r} is not a valid topic level")
    return value


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is a usable topic prefix, else raise :class:`TopicError`."""
    if not _PREFIX.match(prefix) or prefix.endswith("/") or "//" in prefix:
        raise TopicError(f"prefix {prefix!r} is not a valid topic prefix")
    return prefix


def check_publish_topic(topic: str) -> str:
    """Return ``topic`` if a client may publish to it (reply topics from head-ends)."""
    if not topic or "#" in topic or "+" in topic or "\x00" in topic or topic.startswith("$"):
        raise TopicError(f"topic {topic!r} is not a valid publish topic")
    if len(topic.encode("utf-8")) > 65535:
        raise TopicError("topic is longer than 65535 bytes")
    return topic


@dataclass(frozen=True, slots=True)
class Topics:
    """The topics of one gateway under one (tenant's) prefix."""

    prefix: str
    gateway: str

    def __post_init__(self) -> None:
        check_prefix(self.prefix)
        _check_level("gateway id", self.gateway)

    @property
    def base(self) -> str:
        """``{prefix}/gateway/{gw}``."""
        return f"{self.prefix}/gateway/{self.gateway}"

    @property
    def state(self) -> str:
        """Retained online/offline state (and the last will)."""
        return f"{self.base}/state"

    @property
    def alarm(self) -> str:
        """One alarm event, published at once."""
        return f"{self.base}/event/alarm"

    @property
    def readings(self) -> str:
        """One batch of interval values."""
        return f"{self.base}/event/readings"

    @property
    def stats(self) -> str:
        """Gateway and reception statistics."""
        return f"{self.base}/event/stats"

    @property
    def command_filter(self) -> str:
        """The subscription filter for every command to this gateway."""
        return f"{self.base}/command/+"

    def command(self, name: str) -> str:
        """The topic a head-end publishes command ``name`` to."""
        return f"{self.base}/command/{_check_level('command name', name)}"

    def reply(self, name: str) -> str:
        """Where a reply goes when the command named no reply topic."""
        return f"{self.base}/reply/{_check_level('command name', name)}"

    def parse_command(self, topic: str) -> str:
        """The command name of a command ``topic`` of this gateway; :class:`TopicError` if not."""
        head = f"{self.base}/command/"
        if not topic.startswith(head):
            raise TopicError(f"{topic!r} is not a command topic of gateway {self.gateway!r}")
        return _check_level("command name", topic[len(head) :])
