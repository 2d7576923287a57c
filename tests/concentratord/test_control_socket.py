"""The control socket: roles checked per command, changes audited, bad requests refused.
Real Unix sockets; the peer credentials come from the kernel."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from pathlib import Path
from typing import Any

import pytest

from concentratord.control import MAX_REQUEST, AuditLog, ControlCommand, ControlServer
from concentratord.ctl import request


async def _status(args: dict[str, Any]) -> Any:
    return {"meters": 3}


async def _add_key(args: dict[str, Any]) -> Any:
    return {"added": args["meter_id"]}


COMMANDS = {
    "status": ControlCommand("user", _status),
    "keys": ControlCommand("administrator", _add_key, changes=True),
}


def serve(tmp_path: Path, role: str | None, calls: list[tuple[str, dict[str, Any]]]) -> Any:
    sock = tmp_path / "control.sock"
    audit = AuditLog(tmp_path / "audit.log", clock=lambda: 1000.0)

    async def main() -> list[Any]:
        server = ControlServer(str(sock), COMMANDS, lambda uid, gids: role, audit)
        await server.start()
        try:
            results = []
            for command, args in calls:
                try:
                    results.append(await asyncio.to_thread(request, str(sock), command, args))
                except Exception as err:  # the client's refusal, as the CLI would show it
                    results.append(str(err))
            return results
        finally:
            await server.stop()

    return asyncio.run(main())


def test_user_may_read_status(tmp_path: Path) -> None:
    assert serve(tmp_path, "user", [("status", {})]) == [{"meters": 3}]


def test_user_may_not_change_keys_and_the_refusal_is_audited(tmp_path: Path) -> None:
    (result,) = serve(tmp_path, "user", [("keys", {"meter_id": "12345678", "key": "00" * 16})])
    assert "needs role administrator" in result
    entry = json.loads((tmp_path / "audit.log").read_text())
    assert entry["outcome"].startswith("refused")
    assert entry["args"]["key"] == "<redacted>"


def test_administrator_change_is_audited_with_who_and_what(tmp_path: Path) -> None:
    serve(tmp_path, "administrator", [("keys", {"meter_id": "12345678", "key": "00" * 16})])
    entry = json.loads((tmp_path / "audit.log").read_text())
    assert entry["command"] == "keys" and entry["outcome"] == "done"
    assert isinstance(entry["who"]["uid"], int) and entry["time"] == 1000.0


def test_peer_without_a_role_is_refused(tmp_path: Path) -> None:
    (result,) = serve(tmp_path, None, [("status", {})])
    assert "you have none" in result


def test_unknown_command_is_refused_with_a_reason(tmp_path: Path) -> None:
    (result,) = serve(tmp_path, "administrator", [("format_disk", {})])
    assert "unknown command" in result


def test_socket_file_is_removed_on_stop(tmp_path: Path) -> None:
    serve(tmp_path, "user", [])
    assert not (tmp_path / "control.sock").exists()


def test_an_action_may_need_a_lesser_role_than_the_command(tmp_path: Path) -> None:
    commands = {
        "keys": ControlCommand(
            "administrator",
            _add_key,
            changes=True,
            actions={"list": ("superuser", False), "add": ("administrator", True)},
        )
    }
    sock = tmp_path / "control.sock"
    audit = AuditLog(tmp_path / "audit.log", clock=lambda: 1.0)

    async def main() -> list[Any]:
        server = ControlServer(str(sock), commands, lambda uid, gids: "superuser", audit)
        await server.start()
        try:
            listed = await asyncio.to_thread(
                request, str(sock), "keys", {"action": "list", "meter_id": "1"}
            )
            try:
                await asyncio.to_thread(
                    request, str(sock), "keys", {"action": "add", "meter_id": "1"}
                )
                added: Any = "allowed"
            except Exception as err:
                added = str(err)
            return [listed, added]
        finally:
            await server.stop()

    listed, added = asyncio.run(main())
    assert listed == {"added": "1"}  # the handler ran: superuser may list
    assert "needs role administrator" in added
    assert "refused" in (tmp_path / "audit.log").read_text()


def exchange(path: str, line: bytes) -> dict[str, Any]:
    """Send one raw request line and return the decoded reply (a client other than ctl)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(path)
        sock.sendall(line)
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    answer: dict[str, Any] = json.loads(reply)
    return answer


def padded_status(size: int) -> bytes:
    """A valid ``status`` request of exactly ``size`` bytes before its newline."""
    head = b'{"command": "status", "args": {"pad": "'
    tail = b'"}}'
    return head + b"x" * (size - len(head) - len(tail)) + tail + b"\n"


def raw_lines(tmp_path: Path, lines: list[bytes]) -> list[dict[str, Any]]:
    """Each line sent on its own connection to one server, in order; the replies."""
    sock = str(tmp_path / "control.sock")
    audit = AuditLog(tmp_path / "audit.log", clock=lambda: 1.0)

    async def main() -> list[dict[str, Any]]:
        server = ControlServer(sock, COMMANDS, lambda uid, gids: "user", audit)
        await server.start()
        try:
            return [await asyncio.to_thread(exchange, sock, line) for line in lines]
        finally:
            await server.stop()

    return asyncio.run(main())


def test_request_over_the_limit_is_refused_as_too_long(tmp_path: Path) -> None:
    (reply,) = raw_lines(tmp_path, [padded_status(100 * 1024)])
    assert reply == {"ok": False, "error": "request too long"}


def test_server_answers_the_next_connection_after_a_too_long_request(tmp_path: Path) -> None:
    replies = raw_lines(tmp_path, [padded_status(100 * 1024), b'{"command": "status"}\n'])
    assert replies[1] == {"ok": True, "result": {"meters": 3}}


def test_too_long_request_logs_no_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # An exception escaping the connection handler is logged by asyncio at ERROR with a
    # traceback; a refused request must be a warning at most.
    with caplog.at_level(logging.DEBUG):
        raw_lines(tmp_path, [padded_status(100 * 1024)])
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []


def test_request_of_exactly_the_limit_is_served(tmp_path: Path) -> None:
    (reply,) = raw_lines(tmp_path, [padded_status(MAX_REQUEST)])
    assert reply == {"ok": True, "result": {"meters": 3}}


def test_request_one_byte_over_the_limit_is_refused(tmp_path: Path) -> None:
    (reply,) = raw_lines(tmp_path, [padded_status(MAX_REQUEST + 1)])
    assert reply == {"ok": False, "error": "request too long"}
