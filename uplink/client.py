"""``MqttUplink``: paho-mqtt behind an asyncio interface, with publish-with-ack.

paho runs each connection's network loop in its own thread; its callbacks are handed to the
asyncio loop with ``call_soon_threadsafe`` and everything else happens on the asyncio side.
Each connection is a fresh paho client with a clean session: paho's in-memory queue is never
the store. A publish completes when its PUBACK arrives and raises :class:`NotConnectedError` when
the connection drops first; the caller's outbox keeps the row and retries later (duplicates
are dropped by the head-end on ``message_id``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from protocols.backoff import Backoff
from uplink.codecs import Codec, JsonCodec
from uplink.commands import Command, Reply
from uplink.dispatch import CommandDispatcher, RefusalHook
from uplink.errors import NotConnectedError, PublishRefusedError, PublishTimeoutError, UplinkError
from uplink.settings import BrokerSettings
from uplink.topics import DEFAULT_PREFIX, Topics, check_publish_topic

log = logging.getLogger(__name__)

DocumentProvider = Callable[[], Mapping[str, Any]]
OfflineProvider = Callable[[str], Mapping[str, Any]]
CommandHandler = Callable[[Command], Awaitable[Reply | None]]

# CONNACK reason codes meaning "speak an older protocol": MQTT 5's 0x84, and 3.1.1's
# return code 1, which paho reports as the same reason.
_UNSUPPORTED_PROTOCOL = 0x84


@dataclass
class _Connection:
    """One paho client and the asyncio state of its connection."""

    client: paho.Client
    mqtt5: bool
    connack: asyncio.Future[ReasonCode | None]
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    pending: dict[int, asyncio.Future[None]] = field(default_factory=dict)


class MqttUplink:
    """One gateway's connection to one broker (one tenant).

    ``online_state()`` is called after every connect for the retained ``online`` document;
    ``offline_state(reason)`` for the last will (at each connect) and for the retained
    ``offline`` published by :meth:`stop` (a clean disconnect does not fire the will).
    ``message_ids()`` numbers the replies this class builds. ``on_command`` gets each valid
    command and returns the reply to publish (None: no reply).
    """

    def __init__(
        self,
        settings: BrokerSettings,
        *,
        gateway_id: str,
        online_state: DocumentProvider,
        offline_state: OfflineProvider,
        message_ids: Callable[[], int],
        prefix: str = DEFAULT_PREFIX,
        codec: Codec | None = None,
        client_id: str | None = None,
        on_command: CommandHandler | None = None,
        allowed_commands: frozenset[str] | None = None,
        on_refused: RefusalHook | None = None,
        max_pending_commands: int = 16,
        publish_timeout: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.topics = Topics(prefix, gateway_id, settings.reply_prefix)
        self.codec: Codec = codec if codec is not None else JsonCodec()
        self.client_id = client_id or settings.client_id or f"concentratord-{gateway_id}"
        self.connected = asyncio.Event()
        self.counters: dict[str, int] = dict.fromkeys(
            ("connects", "connect_failures", "disconnects", "acked", "publish_failures"), 0
        )
        self._online_state = online_state
        self._offline_state = offline_state
        self._publish_timeout = publish_timeout
        self._rng = rng or random.Random()
        self._conn: _Connection | None = None
        self._inflight = asyncio.Semaphore(settings.max_inflight)
        self._supervisor: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._mqtt5 = settings.protocol != "3.1.1"
        self.commands = CommandDispatcher(
            self,
            gateway_id=gateway_id,
            message_ids=message_ids,
            on_command=on_command,
            allowed=allowed_commands,
            max_pending=max_pending_commands,
            on_refused=on_refused,
        )

    @property
    def inflight(self) -> int:
        """Publishes sent and waiting for their PUBACK."""
        return len(self._conn.pending) if self._conn is not None else 0

    @property
    def protocol(self) -> str:
        """The protocol of the current (or next) connection: ``5`` or ``3.1.1``."""
        return "5" if self._mqtt5 else "3.1.1"

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """Start connecting in the background (returns at once; see :attr:`connected`)."""
        if self._supervisor is not None:
            raise RuntimeError("MqttUplink already started")
        self.settings.check_files()
        self._loop = asyncio.get_running_loop()
        self._supervisor = asyncio.create_task(self._supervise(), name="mqtt-uplink")

    async def stop(self, reason: str = "stopped") -> None:
        """Publish the retained ``offline`` state with ``reason`` (when connected) and
        disconnect cleanly; :meth:`start` may connect again afterwards."""
        if self._supervisor is None:
            return
        if self.connected.is_set():
            try:
                payload = self.codec.encode(self._offline_state(reason))
                await self.publish(self.topics.state, payload, retain=True, timeout=5.0)
            except UplinkError as exc:
                log.warning("uplink: offline state not delivered on stop: %s", exc)
        await self.commands.cancel_all()
        self._supervisor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._supervisor
        self._supervisor = None

    async def _supervise(self) -> None:
        """Connect, hold the connection until it drops, back off, and again."""
        s = self.settings
        backoff = Backoff(s.reconnect_min_delay, s.reconnect_max_delay, rng=self._rng)
        while True:
            outcome = await self._connect_once()
            if outcome == "downgrade":
                log.info("uplink: broker refused MQTT 5, falling back to 3.1.1")
                self._mqtt5 = False
                continue
            if outcome == "session":
                backoff.reset()
            wait = backoff.next_delay()
            log.info("uplink: reconnecting in %.1f s", wait)
            await asyncio.sleep(wait)

    async def _connect_once(self) -> str:
        """One connection: "session" (was up), "failed", or "downgrade" (retry with 3.1.1)."""
        assert self._loop is not None
        conn = _Connection(self._new_client(), self._mqtt5, self._loop.create_future())
        self._conn = conn
        s = self.settings
        try:
            try:
                await self._loop.run_in_executor(
                    None, conn.client.connect, s.host, s.port, s.keepalive
                )
            except (OSError, ValueError) as exc:
                self.counters["connect_failures"] += 1
                log.warning("uplink: cannot connect to %s: %s", s.url, exc)
                return "failed"
            conn.client.loop_start()
            try:
                reason = await asyncio.wait_for(conn.connack, s.connect_timeout)
            except TimeoutError:
                reason = None
            if reason is None or reason.is_failure:
                self.counters["connect_failures"] += 1
                log.warning("uplink: %s refused or dropped the connection: %s", s.url, reason)
                auto = s.protocol == "auto" and conn.mqtt5
                if auto and reason is not None and reason.value == _UNSUPPORTED_PROTOCOL:
                    return "downgrade"
                return "failed"
            self.counters["connects"] += 1
            await self._after_connect(conn)
            await conn.lost.wait()
            self.counters["disconnects"] += 1
            log.warning("uplink: connection to %s lost", s.url)
            return "session"
        finally:
            self.connected.clear()
            self._conn = None
            for future in conn.pending.values():
                if not future.done():
                    future.set_exception(NotConnectedError("connection closed before PUBACK"))
            conn.client.disconnect()
            await self._loop.run_in_executor(None, conn.client.loop_stop)

    async def _after_connect(self, conn: _Connection) -> None:
        """Subscribe to commands and publish the retained online state, then open the gate."""
        conn.client.subscribe(self.topics.command_filter, qos=1)
        try:
            payload = self.codec.encode(self._online_state())
            await self._send(conn, self.topics.state, payload, 1, True, self._publish_timeout)
        except UplinkError as exc:
            log.warning("uplink: online state not delivered: %s", exc)
        except OSError as exc:  # no durable message id to be had: the connection still serves
            log.error("uplink: online state not published: %s", exc)
        if not conn.lost.is_set():  # it may have dropped while the online state was out
            self.connected.set()
        log.info("uplink: connected to %s (MQTT %s)", self.settings.url, self.protocol)

    def _new_client(self) -> paho.Client:
        s = self.settings
        mqtt5 = self._mqtt5
        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=None if mqtt5 else True,
            protocol=MQTTProtocolVersion.MQTTv5 if mqtt5 else MQTTProtocolVersion.MQTTv311,
            reconnect_on_failure=False,  # reconnecting is ours: a fresh client each time
        )
        client.connect_timeout = s.connect_timeout
        client.max_inflight_messages_set(s.max_inflight)
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if s.tls:
            client.tls_set(
                ca_certs=s.ca_file,
                certfile=s.cert_file,
                keyfile=s.key_file,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        try:
            will = self.codec.encode(self._offline_state("connection lost"))
        except OSError as exc:  # no durable message id: connect without a last will
            log.error("uplink: no last will: %s", exc)
        else:
            client.will_set(self.topics.state, will, qos=1, retain=True)
        client.on_connect = self._cb_connect
        client.on_disconnect = self._cb_disconnect
        client.on_publish = self._cb_publish
        client.on_message = self._cb_message
        return client

    # ------------------------------------------------------------------ paho thread

    def _to_loop(self, func: Callable[..., None], *args: Any) -> None:
        if self._loop is not None:
            # The loop may be closing while paho's thread delivers a last callback.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(func, *args)

    def _cb_connect(self, client: paho.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        self._to_loop(self._on_connack, client, rc)

    def _cb_disconnect(self, client: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self._to_loop(self._on_lost, client)

    def _cb_publish(self, client: paho.Client, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        self._to_loop(self._on_puback, client, mid, rc)

    def _cb_message(self, client: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        props = getattr(msg, "properties", None)
        response_topic = getattr(props, "ResponseTopic", None) if props else None
        correlation = getattr(props, "CorrelationData", None) if props else None
        self._to_loop(self._on_message, client, msg.topic, msg.payload, response_topic, correlation)

    # ------------------------------------------------------------------ asyncio side

    def _current(self, client: paho.Client) -> _Connection | None:
        conn = self._conn
        return conn if conn is not None and conn.client is client else None

    def _on_connack(self, client: paho.Client, rc: ReasonCode) -> None:
        conn = self._current(client)
        if conn is not None and not conn.connack.done():
            conn.connack.set_result(rc)

    def _on_lost(self, client: paho.Client) -> None:
        conn = self._current(client)
        if conn is None:
            return
        self.connected.clear()
        if not conn.connack.done():
            conn.connack.set_result(None)
        conn.lost.set()
        for future in conn.pending.values():
            if not future.done():
                future.set_exception(NotConnectedError("connection lost before PUBACK"))

    def _on_puback(self, client: paho.Client, mid: int, rc: ReasonCode) -> None:
        conn = self._current(client)
        future = conn.pending.pop(mid, None) if conn is not None else None
        if future is None or future.done():
            return
        if rc.is_failure:
            future.set_exception(PublishRefusedError(f"broker refused the publish: {rc}"))
        else:
            future.set_result(None)

    def _on_message(
        self,
        client: paho.Client,
        topic: str,
        payload: bytes,
        response_topic: str | None,
        correlation: bytes | None,
    ) -> None:
        if self._current(client) is not None:
            self.commands.received(topic, payload, response_topic, correlation)

    # ------------------------------------------------------------------ publishing

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        timeout: float | None = None,
        correlation_data: bytes | None = None,
    ) -> None:
        """Publish and return once the broker acknowledged (QoS 1 PUBACK).

        Raises :class:`NotConnectedError` when not connected or when the connection drops first,
        :class:`PublishTimeoutError`, or :class:`PublishRefusedError`. At most ``max_inflight``
        publishes wait for their PUBACK at once; more wait here for a slot.
        """
        check_publish_topic(topic)
        if qos not in (0, 1):
            raise ValueError(f"qos {qos} is not 0 or 1")
        async with self._inflight:
            conn = self._conn
            if conn is None or not self.connected.is_set():
                raise NotConnectedError(f"not connected to {self.settings.url}")
            limit = self._publish_timeout if timeout is None else timeout
            await self._send(conn, topic, payload, qos, retain, limit, correlation_data)

    async def _send(
        self,
        conn: _Connection,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        timeout: float,
        correlation_data: bytes | None = None,
    ) -> None:
        assert self._loop is not None
        props = None
        if conn.mqtt5:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.ContentType = self.codec.content_type
            if correlation_data is not None:
                props.CorrelationData = correlation_data
        info = conn.client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.counters["publish_failures"] += 1
            raise NotConnectedError(f"publish not sent: {paho.error_string(info.rc)}")
        if qos == 0:
            return
        # Registered before the loop runs again, so the PUBACK callback cannot come first.
        future: asyncio.Future[None] = self._loop.create_future()
        conn.pending[info.mid] = future
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            self.counters["publish_failures"] += 1
            raise PublishTimeoutError(f"no PUBACK within {timeout} s") from None
        except UplinkError:
            self.counters["publish_failures"] += 1
            raise
        finally:
            conn.pending.pop(info.mid, None)
        self.counters["acked"] += 1
