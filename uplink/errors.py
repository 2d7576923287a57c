"""The uplink's publish errors: the caller keeps the message and retries on any of them."""

from __future__ import annotations


class UplinkError(Exception):
    """A publish did not reach the broker; the caller keeps the message and retries."""


class NotConnectedError(UplinkError):
    """Not connected, or the connection dropped before the broker acknowledged."""


class PublishTimeoutError(UplinkError):
    """No PUBACK within the timeout (the message may still arrive: ids make it safe)."""


class PublishRefusedError(UplinkError):
    """The broker answered the publish with an error reason code (MQTT 5)."""
