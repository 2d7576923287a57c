"""The local control socket that ``concentratorctl`` talks to.

One JSON object per line each way. The peer's uid and groups come from the kernel
(SO_PEERCRED), its user name and role from the system and ``[access]``; each command (and
each of its actions) names the permission it needs, and the one authorisation function
(:class:`concentratord.access.Authority`) decides. Every change and every refusal goes to
the audit trail: when, what, who, from which computer, and the outcome.

A request line is at most :data:`MAX_REQUEST` bytes, not counting its newline; a longer one
is answered ``{"ok": false, "error": "request too long"}`` and the connection closed.

A :class:`ControlStream` command (``tap``) keeps the connection: after the same check
the server writes ``{"ok": true, "stream": true}``, then one JSON object per line as its
source yields them, until the client hangs up, the source ends (``{"end": REASON}``) or the
server stops (``{"end": "concentratord is stopping"}``). The source is always closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from concentratord.access import Authority, Caller, NotPermittedError, Permission

log = logging.getLogger(__name__)

# Bytes of one request line, newline not counted. It is the stream limit of the server, so
# a longer line is never buffered whole: readline() gives up at this bound. A keys import
# travels in one request: 4 MiB holds about 80,000 "ID KEY" lines.
MAX_REQUEST = 4 * 1024 * 1024
TOO_LONG = "request too long"
STOPPING = "concentratord is stopping"
# Seconds a closing connection may take to flush what is queued for it: a client that does
# not read (a stalled stream) is cut off rather than holding the server's stop.
CLOSE_S = 1.0
# Seconds the rest of a too-long request is read (and dropped) after its refusal.
DRAIN_S = 2.0

Handler = Callable[[dict[str, Any], Caller], Awaitable[Any]]
Identify = Callable[["Peer"], Caller]


class StreamSource(Protocol):
    """What a streaming command opens: objects to send, one line each, until closed."""

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]: ...

    def close(self) -> None:
        """Release what the stream holds (called exactly once, however the stream ends)."""


@dataclass(frozen=True)
class Audited:
    """A handler's result with the outcome the audit trail records (default ``done``)."""

    result: Any
    outcome: str


@dataclass(frozen=True)
class ControlCommand:
    """A command the socket offers: the permission it needs, and whether it changes state.

    ``actions`` refines both per ``args["action"]`` (e.g. ``keys list`` changes nothing,
    ``keys import`` does and is audited): action -> (permission, changes).
    """

    permission: Permission
    handler: Handler
    changes: bool = False
    actions: dict[str, tuple[Permission, bool]] | None = None

    def needs(self, args: dict[str, Any]) -> tuple[Permission, bool]:
        """The permission and the audit flag for these arguments."""
        if self.actions is not None and args.get("action") in self.actions:
            return self.actions[str(args["action"])]
        return self.permission, self.changes


StreamOpener = Callable[[dict[str, Any]], Awaitable[StreamSource]]


@dataclass(frozen=True)
class ControlStream:
    """A command that streams: ``open`` gives the source once the permission is checked.

    ``open`` refuses with :class:`ControlError` (bad arguments, too many watchers) before
    anything is streamed. A stream only reads, so only its refusal is audited.
    """

    permission: Permission
    open: StreamOpener

    def needs(self, args: dict[str, Any]) -> tuple[Permission, bool]:
        """The permission and the audit flag (never: a stream changes nothing)."""
        return self.permission, False


Command = ControlCommand | ControlStream


class ControlError(Exception):
    """A refusal with a reason for the client."""


@dataclass(frozen=True)
class Peer:
    """Who is on the other end of a connection."""

    pid: int
    uid: int
    gids: tuple[int, ...]


def peer_of(sock: socket.socket) -> Peer:
    """The peer's credentials (SO_PEERCRED) and its supplementary groups (/proc)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", creds)
    gids = {gid}
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Groups:"):
                gids.update(int(g) for g in line.split()[1:])
    return Peer(pid, uid, tuple(sorted(gids)))


class ControlServer:
    """Serves the control commands on a Unix socket."""

    def __init__(
        self,
        path: str,
        commands: Mapping[str, Command],
        identify: Identify,
        authority: Authority,
        mode: int = 0o660,
    ) -> None:
        self.path = path
        self.commands = commands
        self.identify = identify
        self.authority = authority
        self.mode = mode
        self._server: asyncio.AbstractServer | None = None
        self._stopping = asyncio.Event()
        self._streams: set[asyncio.Task[Any]] = set()  # connections that are streaming

    async def start(self) -> None:
        """Listen (replacing a stale socket file from a previous run)."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self._stopping.clear()
        self._server = await asyncio.start_unix_server(self._client, self.path, limit=MAX_REQUEST)
        os.chmod(self.path, self.mode)

    async def stop(self) -> None:
        """Stop listening, end the open streams and remove the socket file."""
        self._stopping.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._streams:
            # Each stream writes its end line and closes within CLOSE_S (twice: the end
            # line's flush, then the close); the margin is for a loaded loop.
            await asyncio.wait(set(self._streams), timeout=4 * CLOSE_S)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            sock = writer.get_extra_info("socket")
            peer = peer_of(sock)
            source: StreamSource | None = None
            try:
                line = await asyncio.wait_for(reader.readline(), 10)
            except (ValueError, asyncio.LimitOverrunError):
                # readline() raises (and drops what it buffered) once a line outgrows the
                # stream limit, before handle() could see it: refuse it the same way here.
                log.warning("control client uid %d: request over %d bytes", peer.uid, MAX_REQUEST)
                reply: dict[str, Any] = {"ok": False, "error": TOO_LONG}
            else:
                reply, source = await self.dispatch(peer, line)
            if source is not None:
                await self._stream(peer, source, reader, writer)
                return
            writer.write(json.dumps(reply, default=str).encode() + b"\n")
            await writer.drain()
            if reply.get("error") == TOO_LONG:
                # The client may still be sending the rest of its line: read it (for a
                # moment) so that it can finish and read the refusal, instead of a reset.
                # Cancelled when the server stops meanwhile: the refusal was sent, done.
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(_until_eof(reader), DRAIN_S)
        except (OSError, TimeoutError) as err:
            log.debug("control client: %s", err)
        finally:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), CLOSE_S)
            except (OSError, TimeoutError, asyncio.CancelledError):
                # Cancelled: the server stops while this connection closes. The connection
                # is over either way; letting the cancellation out of the handler makes
                # asyncio log it as an error (Python 3.11's stream callback).
                writer.transport.abort()  # what is still queued will never be read

    async def _stream(
        self,
        peer: Peer,
        source: StreamSource,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """Send ``source`` until the client hangs up, the source ends or the server stops."""
        me = asyncio.current_task()
        if me is not None:
            self._streams.add(me)
        log.info("control: uid %d opened a stream", peer.uid)
        writer.write(json.dumps({"ok": True, "stream": True}).encode() + b"\n")
        forward = asyncio.create_task(_forward(source, writer))
        gone = asyncio.create_task(_until_eof(reader))
        stopping = asyncio.create_task(self._stopping.wait())
        end: str | None = None
        try:
            done, _ = await asyncio.wait(
                {forward, gone, stopping}, return_when=asyncio.FIRST_COMPLETED
            )
            failure = forward.exception() if forward in done else None
            hung_up = gone in done or isinstance(failure, OSError)  # or lost mid-write
            if hung_up:
                end = "client closed"
            elif stopping in done:
                end = STOPPING
            elif failure is not None:
                log.error("control: stream failed", exc_info=failure)
                end = "stream failed"
            else:
                end = "stream ended"
            if not hung_up:
                forward.cancel()
                # Tell the client why; a client that does not read is not waited for.
                writer.write(json.dumps({"end": end}).encode() + b"\n")
                with contextlib.suppress(OSError, TimeoutError):
                    await asyncio.wait_for(writer.drain(), CLOSE_S)
        finally:
            for task in (forward, gone, stopping):
                task.cancel()
            await asyncio.gather(forward, gone, stopping, return_exceptions=True)
            source.close()
            if me is not None:
                self._streams.discard(me)
            log.info("control: uid %d stream ended: %s", peer.uid, end or "cancelled")

    async def handle(self, peer: Peer, line: bytes) -> dict[str, Any]:
        """The reply to one request line from ``peer`` (a stream needs a connection: refused)."""
        reply, source = await self.dispatch(peer, line)
        if source is not None:
            source.close()
            return {"ok": False, "error": "a stream needs a connection"}
        return reply

    async def dispatch(self, peer: Peer, line: bytes) -> tuple[dict[str, Any], StreamSource | None]:
        """The reply to one request line from ``peer``, and the opened source of a stream."""
        try:
            if len(line.removesuffix(b"\n")) > MAX_REQUEST:
                raise ControlError(TOO_LONG)
            try:
                request = json.loads(line)
            except ValueError:
                raise ControlError("request is not JSON") from None
            if not isinstance(request, dict) or not isinstance(request.get("command"), str):
                raise ControlError("request needs a command")
            name = request["command"]
            args = request.get("args") or {}
            if not isinstance(args, dict):
                raise ControlError("args must be an object")
            command = self.commands.get(name)
            if command is None:
                raise ControlError(f"unknown command {name!r}")
            permission, changes = command.needs(args)
            caller = self.identify(peer)
            action = f"{name} {args['action']}" if isinstance(args.get("action"), str) else name
            try:
                await self.authority.check(caller, permission, action, args)
            except NotPermittedError as err:
                raise ControlError(str(err)) from None
            if isinstance(command, ControlStream):
                return {"ok": True, "stream": True}, await command.open(args)
            try:
                result = await command.handler(args, caller)
            except ControlError as err:
                if changes:
                    await self.authority.record(
                        caller, action, args, f"refused: {err}", event="refusal"
                    )
                raise
            outcome = "done"
            if isinstance(result, Audited):
                result, outcome = result.result, result.outcome
            if changes:
                await self.authority.record(caller, action, args, outcome)
            return {"ok": True, "result": result}, None
        except ControlError as err:
            return {"ok": False, "error": str(err)}, None


async def _forward(source: StreamSource, writer: asyncio.StreamWriter) -> None:
    """Write each object of ``source`` as a line; waits while the client's buffer is full."""
    async for item in source:
        writer.write(json.dumps(item, default=str).encode() + b"\n")
        await writer.drain()


async def _until_eof(reader: asyncio.StreamReader) -> None:
    """Return once the client hangs up (what it sends meanwhile is read and ignored)."""
    with contextlib.suppress(OSError):
        while await reader.read(4096):
            pass
