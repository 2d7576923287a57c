"""The MQTT topic tree of docs/uplink.md, "Topics".

``{prefix}/gateway/{gw}/state``, ``.../event/alarm``, ``.../event/readings``,
``.../event/stats``, ``.../command/{name}`` (down) and ``.../reply/{name}`` (up).

A reply topic that a head-end names (MQTT 5 response topic or ``reply_to``) must lie under
the tenant's reply prefix (default ``{prefix}/headend/``), which never overlaps the gateway
tree ``{prefix}/gateway/``: a command cannot make the gateway publish as its own events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_PREFIX = "concentratord"
# Where head-end replies may go by default; "{prefix}" stands for the uplink's topic prefix.
DEFAULT_REPLY_PREFIX = "{prefix}/headend/"

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


def gateway_tree(prefix: str) -> str:
    """``{prefix}/gateway/``: every topic of every gateway under ``prefix`` starts with it."""
    return f"{prefix}/gateway/"


def check_reply_prefix(reply_prefix: str, prefix: str | None = None) -> str:
    """``reply_prefix`` ending in ``/`` if usable, else :class:`TopicError` with the reason.

    A prefix is whole topic levels (``a/b`` and ``a/b/`` both mean "below a/b"), so that
    ``a/b`` does not also admit ``a/bc``. With ``prefix`` (the uplink's topic prefix) it must
    neither lie in nor contain the gateway tree ``{prefix}/gateway/``.
    """
    normal = reply_prefix if reply_prefix.endswith("/") else reply_prefix + "/"
    if not _PREFIX.match(normal) or "//" in normal:
        raise TopicError(f"reply prefix {reply_prefix!r} is not a valid topic prefix")
    if prefix is not None:
        tree = gateway_tree(prefix)
        if normal.startswith(tree) or tree.startswith(normal):
            raise TopicError(
                f"reply prefix {reply_prefix!r} overlaps the gateway tree {tree!r}: "
                "a reply could pass for the gateway's own messages"
            )
    return normal


def check_publish_topic(topic: str) -> str:
    """Return ``topic`` if a client may publish to it (reply topics from head-ends)."""
    if not topic or "#" in topic or "+" in topic or "\x00" in topic or topic.startswith("$"):
        raise TopicError(f"topic {topic!r} is not a valid publish topic")
    if len(topic.encode("utf-8")) > 65535:
        raise TopicError("topic is longer than 65535 bytes")
    return topic


@dataclass(frozen=True, slots=True)
class Topics:
    """The topics of one gateway under one (tenant's) prefix.

    ``reply_prefix`` is where head-end replies may go (:meth:`check_reply_topic`); None
    means ``{prefix}/headend/``. It is stored normalised, ending in ``/``.
    """

    prefix: str
    gateway: str
    reply_prefix: str | None = None

    def __post_init__(self) -> None:
        check_prefix(self.prefix)
        _check_level("gateway id", self.gateway)
        wanted = self.reply_prefix
        if wanted is None:
            wanted = DEFAULT_REPLY_PREFIX.replace("{prefix}", self.prefix)
        # Frozen: the normalised value replaces the given one once, here.
        object.__setattr__(self, "reply_prefix", check_reply_prefix(wanted, self.prefix))

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

    def check_reply_topic(self, topic: str) -> str:
        """``topic`` if a reply named by a head-end may go there, else :class:`TopicError`.

        It must be a valid publish topic under :attr:`reply_prefix` (never in the gateway
        tree, which the reply prefix does not overlap).
        """
        check_publish_topic(topic)
        assert self.reply_prefix is not None  # set in __post_init__
        rule = f"this tenant's reply prefix {self.reply_prefix!r}"
        tree = gateway_tree(self.prefix)
        if topic.startswith(tree):
            # Cannot be under the reply prefix either; said outright, it is the likely attack.
            raise TopicError(f"topic {topic!r} is in the gateway tree {tree!r}, not under {rule}")
        if not topic.startswith(self.reply_prefix) or topic == self.reply_prefix:
            raise TopicError(f"topic {topic!r} is not under {rule}")
        return topic

    def parse_command(self, topic: str) -> str:
        """The command name of a command ``topic`` of this gateway; :class:`TopicError` if not."""
        head = f"{self.base}/command/"
        if not topic.startswith(head):
            raise TopicError(f"{topic!r} is not a command topic of gateway {self.gateway!r}")
        return _check_level("command name", topic[len(head) :])
