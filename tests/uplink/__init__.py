"""Tests of the uplink package: MQTT client, commands, codecs, messages, topics, TLS."""
