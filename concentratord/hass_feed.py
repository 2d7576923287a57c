"""Home Assistant MQTT discovery for one tenant (``uplink.homeassistant``; docs/uplink.md,
"Home Assistant"): the gateway's and the meters' entities announced with retained config
documents, and each meter's latest values on a retained state topic, published alongside
the readings batches the tenant's publisher delivers.

Configs are announced once per connection (a restarted broker without persistence forgets
retained messages; Home Assistant ignores a config it already has) and again for a field a
meter sends for the first time. The documents themselves are :mod:`uplink.hass`'s.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from uplink import MqttUplink, UplinkError, hass

log = logging.getLogger(__name__)


class HomeAssistantFeed:
    """Discovery and state documents of one tenant's meters, on its uplink."""

    def __init__(
        self,
        uplink: MqttUplink,
        *,
        gateway: str,
        tenant_prefix: str,
        discovery_prefix: str,
        version: str,
    ) -> None:
        self._uplink = uplink
        self._gateway = gateway
        self._prefix = tenant_prefix
        self._discovery = discovery_prefix
        self._version = version
        self._announced: set[str] = set()  # config topics sent on this connection
        self._connection = -1  # uplink.counters["connects"] when they were sent

    async def _send(self, topic: str, document: Mapping[str, Any]) -> None:
        payload = json.dumps(document, separators=(",", ":")).encode()
        await self._uplink.publish(topic, payload, qos=1, retain=True)

    async def batch_published(self, document: Mapping[str, Any]) -> None:
        """A readings batch reached the broker: announce what is new, publish each meter's
        state. A failure is logged and retried with the next batch (nothing is stored)."""
        connects = self._uplink.counters["connects"]
        if connects != self._connection:
            self._announced.clear()
            self._connection = connects
        availability = hass.gateway_state_topic(self._prefix, self._gateway)
        try:
            topic, config = hass.gateway_document(
                discovery_prefix=self._discovery,
                gateway=self._gateway,
                tenant_prefix=self._prefix,
                sw_version=self._version,
            )
            await self._announce(topic, config)
            for row in document.get("readings", ()):
                if not isinstance(row, Mapping):
                    continue
                await self._meter(row, availability)
        except (UplinkError, hass.HassError) as err:
            log.info("home assistant documents of %s not sent now: %s", self._prefix, err)

    async def _meter(self, row: Mapping[str, Any], availability: str) -> None:
        state = hass.state_topic(
            self._prefix, self._gateway, str(row.get("manufacturer", "")), str(row.get("id", ""))
        )
        for topic, config in hass.discovery_documents(
            discovery_prefix=self._discovery,
            gateway=self._gateway,
            tenant_prefix=self._prefix,
            meter=row,
            state_topic=state,
            availability_topic=availability,
            sw_version=self._version,
        ):
            await self._announce(topic, config)
        await self._send(state, hass.state_document(row))

    async def _announce(self, topic: str, config: Mapping[str, Any]) -> None:
        if topic in self._announced:
            return
        await self._send(topic, config)
        self._announced.add(topic)
