"""Topic tree and broker settings."""

from __future__ import annotations

import pytest

from uplink.settings import BrokerSettings, SettingsError, parse_broker_url
from uplink.topics import TopicError, Topics, check_publish_topic, check_reply_prefix

TOPICS = Topics("concentratord", "gw-0001")


def test_topic_tree_matches_design() -> None:
    base = "concentratord/gateway/gw-0001"
    assert TOPICS.state == f"{base}/state"
    assert TOPICS.alarm == f"{base}/event/alarm"
    assert TOPICS.readings == f"{base}/event/readings"
    assert TOPICS.stats == f"{base}/event/stats"
    assert TOPICS.command("backfill") == f"{base}/command/backfill"
    assert TOPICS.reply("backfill") == f"{base}/reply/backfill"
    assert TOPICS.command_filter == f"{base}/command/+"


def test_prefix_may_have_several_levels() -> None:
    assert Topics("utility-a/meters", "gw").state == "utility-a/meters/gateway/gw/state"


def test_command_name_is_parsed_from_topic() -> None:
    assert TOPICS.parse_command("concentratord/gateway/gw-0001/command/get_status") == "get_status"


def test_command_topic_of_another_gateway_is_rejected() -> None:
    with pytest.raises(TopicError):
        TOPICS.parse_command("concentratord/gateway/gw-0002/command/get_status")


@pytest.mark.parametrize("gateway", ["", "a/b", "a+", "#", "$sys"])
def test_gateway_id_with_topic_syntax_is_rejected(gateway: str) -> None:
    with pytest.raises(TopicError):
        Topics("concentratord", gateway)


@pytest.mark.parametrize("topic", ["", "a/#", "a/+/b", "$SYS/x"])
def test_reply_topic_with_wildcards_is_rejected(topic: str) -> None:
    with pytest.raises(TopicError):
        check_publish_topic(topic)


def test_broker_url_default_ports() -> None:
    assert parse_broker_url("mqtt://h") == ("mqtt", "h", 1883)
    assert parse_broker_url("mqtts://h") == ("mqtts", "h", 8883)
    assert parse_broker_url("mqtts://h:1234") == ("mqtts", "h", 1234)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://h", "mqtt:// or mqtts://"),
        ("mqtt://", "no host"),
        ("mqtt://h:99999", "not a valid URL"),
        ("mqtt://h/path", "no path"),
        ("mqtt://u:p@h", "credentials"),
    ],
)
def test_bad_broker_url_is_refused_with_reason(url: str, reason: str) -> None:
    with pytest.raises(SettingsError, match=reason):
        BrokerSettings(url=url)


def test_tls_files_need_mqtts() -> None:
    with pytest.raises(SettingsError, match="not mqtts"):
        BrokerSettings(url="mqtt://h", ca_file="/ca.pem")


def test_client_certificate_needs_key() -> None:
    with pytest.raises(SettingsError, match="needs both"):
        BrokerSettings(url="mqtts://h", cert_file="/c.pem")


def test_unknown_protocol_is_refused() -> None:
    with pytest.raises(SettingsError, match="protocol"):
        BrokerSettings(url="mqtt://h", protocol="4")  # type: ignore[arg-type]


def test_missing_tls_file_is_named() -> None:
    with pytest.raises(SettingsError, match="ca_file"):
        BrokerSettings(url="mqtts://h", ca_file="/nonexistent/ca.pem").check_files()


# ------------------------------------------------------------------------- reply prefix


def test_reply_prefix_defaults_to_headend_under_the_prefix() -> None:
    assert Topics("water/amr", "gw").reply_prefix == "water/amr/headend/"


def test_reply_topic_under_the_reply_prefix_is_accepted() -> None:
    topic = "concentratord/headend/replies/1"
    assert TOPICS.check_reply_topic(topic) == topic


def test_reply_prefix_admits_whole_levels_only() -> None:
    topics = Topics("concentratord", "gw", "replies/hq")
    with pytest.raises(TopicError, match="not under this tenant's reply prefix 'replies/hq/'"):
        topics.check_reply_topic("replies/hqx/1")


def test_reply_topic_equal_to_the_reply_prefix_is_refused() -> None:
    with pytest.raises(TopicError, match="not under"):
        TOPICS.check_reply_topic("concentratord/headend/")


def test_reply_topic_in_another_gateways_tree_is_refused() -> None:
    with pytest.raises(TopicError, match="in the gateway tree 'concentratord/gateway/'"):
        TOPICS.check_reply_topic("concentratord/gateway/gw-0002/command/backfill")


@pytest.mark.parametrize(
    "reply_prefix", ["concentratord/gateway/gw-0001/", "concentratord/gateway", "concentratord"]
)
def test_reply_prefix_overlapping_the_gateway_tree_is_refused(reply_prefix: str) -> None:
    with pytest.raises(TopicError, match="overlaps the gateway tree"):
        Topics("concentratord", "gw-0001", reply_prefix)


@pytest.mark.parametrize("reply_prefix", ["", "/a", "a//b", "a/+/b", "a/#", "$SYS/x"])
def test_reply_prefix_with_topic_syntax_is_refused(reply_prefix: str) -> None:
    with pytest.raises(TopicError, match="not a valid topic prefix"):
        check_reply_prefix(reply_prefix)


def test_broker_settings_refuse_an_invalid_reply_prefix() -> None:
    with pytest.raises(SettingsError, match="reply_prefix"):
        BrokerSettings(url="mqtt://h", reply_prefix="a/#")
