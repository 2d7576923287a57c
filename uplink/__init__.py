"""MQTT uplink: topics, payload codecs, documents, and the publish-with-ack client.

Imports nothing of ours but ``protocols`` (docs/decisions/0001). The contract is
docs/uplink.md.
"""

from uplink.client import MqttUplink
from uplink.codecs import Codec, CodecError, CompactCodec, JsonCodec, codec_named
from uplink.commands import Command, CommandRefusedError, Reply
from uplink.errors import NotConnectedError, PublishRefusedError, PublishTimeoutError, UplinkError
from uplink.settings import BrokerSettings, SettingsError
from uplink.topics import Topics

__all__ = [
    "BrokerSettings",
    "Codec",
    "CodecError",
    "Command",
    "CommandRefusedError",
    "CompactCodec",
    "JsonCodec",
    "MqttUplink",
    "NotConnectedError",
    "PublishRefusedError",
    "PublishTimeoutError",
    "Reply",
    "SettingsError",
    "Topics",
    "UplinkError",
    "codec_named",
]
