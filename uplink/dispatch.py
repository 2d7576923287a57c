"""Commands from the broker to the daemon's handler, and their replies back.

Where the reply goes: the MQTT 5 response topic (with the command's correlation data), else
the payload's ``reply_to`` (3.1.1 clients), else ``{prefix}/gateway/{gw}/reply/{name}``.
A reply topic named by the head-end (either way, the same rule) must lie under the tenant's
reply prefix (:meth:`uplink.topics.Topics.check_reply_topic`), ``reply_to`` even when the
response topic wins. When one does not, the command is refused and the refusal goes to the
default reply topic, which is the gateway's own (or to the response topic when only an unused
``reply_to`` was refused).
A command that cannot run (not ours, malformed, unknown, not allowed, over a size limit, too
many at once) is answered ``ok: false`` with the reason; it never reaches the handler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from uplink.codecs import CodecError, decode_command_payload
from uplink.commands import (
    Command,
    CommandRefusedError,
    Reply,
    check_reply_to,
    correlation_data_of,
    correlation_id_of,
    parse_command,
)
from uplink.errors import UplinkError
from uplink.messages import command_reply
from uplink.topics import TopicError

if TYPE_CHECKING:
    from uplink.client import MqttUplink

log = logging.getLogger(__name__)


# Told of each command refused before the daemon's handler saw it (malformed, wrong
# gateway, bad arguments, a refused reply topic, busy): name, payload as decoded, reason.
RefusalHook = Callable[[str, dict[str, Any], str], Awaitable[None]]


class CommandDispatcher:
    """Runs each received command in its own task, at most ``max_pending`` at once."""

    def __init__(
        self,
        uplink: MqttUplink,
        *,
        gateway_id: str,
        message_ids: Callable[[], int],
        on_command: Callable[[Command], Awaitable[Reply | None]] | None,
        allowed: frozenset[str] | None,
        max_pending: int,
        on_refused: RefusalHook | None = None,
    ) -> None:
        self._uplink = uplink
        self._gateway = gateway_id
        self._message_ids = message_ids
        self._on_command = on_command
        self._allowed = allowed
        self._max_pending = max_pending
        self._on_refused = on_refused
        self._tasks: set[asyncio.Task[None]] = set()
        self.counters: dict[str, int] = {"received": 0, "refused": 0, "replied": 0}

    def received(
        self, topic: str, payload: bytes, response_topic: str | None, correlation: bytes | None
    ) -> None:
        """A message arrived on the command subscription (called on the asyncio loop)."""
        try:
            name = self._uplink.topics.parse_command(topic)
        except TopicError as exc:
            # Nowhere sensible to reply: the name is what the reply topic is built from.
            log.warning("uplink: ignored message on %r: %s", topic, exc)
            return
        self.counters["received"] += 1
        busy = len(self._tasks) >= self._max_pending
        task = asyncio.create_task(self._run(name, payload, response_topic, correlation, busy))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def cancel_all(self) -> None:
        """Cancel commands still running (on stop)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(
        self,
        name: str,
        payload: bytes,
        response_topic: str | None,
        correlation: bytes | None,
        busy: bool,
    ) -> None:
        doc: dict[str, Any] = {}
        reply: Reply | None = None
        try:
            doc = decode_command_payload(payload, self._uplink.codec)
        except CodecError as exc:
            reply = Reply.refused(str(exc))
        reply_topic, refusal = self._reply_topic(response_topic, doc)
        if refusal is not None:
            reply = Reply.refused(refusal)  # outranks a payload error: it says where we reply
        handled = False
        if reply is None:
            reply, handled = await self._execute(name, doc, correlation, busy)
        if reply is None:
            return
        if not reply.ok and not handled and self._on_refused is not None:
            try:
                await self._on_refused(name, doc, reply.error or "refused")
            except Exception:  # the reply goes out whatever the hook does
                log.exception("uplink: the refusal hook failed")
        if not reply.ok:
            self.counters["refused"] += 1
            log.info("uplink: command %s refused: %s", name, reply.error)
        # Echoed only within their limits, in refusals too (to match them to the request).
        await self._send(
            name, reply, reply_topic, correlation_data_of(correlation), correlation_id_of(doc)
        )

    async def _execute(
        self, name: str, doc: dict[str, Any], correlation: bytes | None, busy: bool
    ) -> tuple[Reply | None, bool]:
        """The reply, and whether the daemon's handler gave it (False: refused here)."""
        try:
            if busy:
                raise CommandRefusedError(f"busy: {self._max_pending} commands already running")
            command = parse_command(
                name,
                doc,
                gateway=self._gateway,
                allowed=self._allowed,
                correlation_data=correlation,
            )
        except CommandRefusedError as exc:
            return Reply.refused(str(exc)), False
        return await self._handle(command), True

    def _reply_topic(
        self, response_topic: str | None, doc: dict[str, Any]
    ) -> tuple[str | None, str | None]:
        """Where the reply goes (None: the default topic) and the reason to refuse the
        command for a reply topic it named (None: no reason).

        Every reply topic the head-end named is checked, ``reply_to`` too when the response
        topic wins. A refused topic is never the destination: the reply then goes to the
        default topic, or to the response topic when only ``reply_to`` was refused.
        """
        destination: str | None = None
        refusal: str | None = None
        if response_topic is not None:
            try:
                destination = self._checked_reply_topic(response_topic, "response topic")
            except CommandRefusedError as exc:
                refusal = str(exc)
        reply_to = doc.get("reply_to")
        if reply_to is not None:
            try:
                checked = self._checked_reply_topic(reply_to, "reply_to")
            except CommandRefusedError as exc:
                refusal = refusal or str(exc)
            else:
                if response_topic is None:
                    destination = checked
        return destination, refusal

    def _checked_reply_topic(self, value: Any, what: str) -> str:
        topic = check_reply_to(value, what)
        try:
            return self._uplink.topics.check_reply_topic(topic)
        except TopicError as exc:
            raise CommandRefusedError(f"{what}: {exc}") from None

    async def _handle(self, command: Command) -> Reply | None:
        if self._on_command is None:
            return Reply.refused("this gateway runs no commands")
        try:
            return await self._on_command(command)
        except Exception as exc:  # a daemon bug must not kill the uplink; report it back
            log.exception("uplink: command %s failed", command.name)
            return Reply.refused(f"internal error: {type(exc).__name__}: {exc}")

    async def _send(
        self,
        name: str,
        reply: Reply,
        reply_topic: str | None,
        correlation: bytes | None,
        correlation_id: str | None,
    ) -> None:
        uplink = self._uplink
        topic = reply_topic or uplink.topics.reply(name)
        try:
            message_id = self._message_ids()
        except OSError as exc:  # no durable id to be had (the id mark cannot be written)
            log.error("uplink: no reply to %s: no message id: %s", name, exc)
            return
        doc = command_reply(
            gateway=self._gateway,
            message_id=message_id,
            command=name,
            ok=reply.ok,
            result=reply.result if reply.ok else None,
            error=reply.error,
            correlation_id=correlation_id,
        )
        try:
            await uplink.publish(topic, uplink.codec.encode(doc), correlation_data=correlation)
        except UplinkError as exc:
            log.warning("uplink: reply to %s not delivered: %s", name, exc)
        else:
            self.counters["replied"] += 1
