"""Bytes on the wire of an MQTT QoS 1 publish, for the uplink size figures (bench/).

Counts the MQTT packets (PUBLISH up, PUBACK down); TCP/IP and TLS framing come on top and
depend on segment sizes, so they are left to a capture.
"""

from __future__ import annotations


def _varint_len(value: int) -> int:
    length = 1
    while value > 127:
        value >>= 7
        length += 1
    return length


def publish_packet_bytes(
    topic: str, payload_len: int, *, mqtt5: bool, content_type: str | None = None
) -> int:
    """Size of a QoS 1 PUBLISH packet (fixed header included)."""
    variable = 2 + len(topic.encode("utf-8")) + 2  # topic length + topic + packet id
    if mqtt5:
        props = 0 if content_type is None else 1 + 2 + len(content_type.encode("utf-8"))
        variable += _varint_len(props) + props
    remaining = variable + payload_len
    return 1 + _varint_len(remaining) + remaining


def puback_packet_bytes(*, mqtt5: bool) -> int:
    """Size of a successful PUBACK (MQTT 5 omits the reason code when it is success)."""
    del mqtt5  # the same 4 bytes in both versions
    return 4


def qos1_exchange_bytes(
    topic: str, payload_len: int, *, mqtt5: bool, content_type: str | None = None
) -> int:
    """PUBLISH plus its PUBACK."""
    return publish_packet_bytes(
        topic, payload_len, mqtt5=mqtt5, content_type=content_type
    ) + puback_packet_bytes(mqtt5=mqtt5)
