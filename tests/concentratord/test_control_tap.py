"""``concentratorctl tap``: the live tap streamed over the control socket.

Real Unix sockets, the real :class:`ControlServer` and a real :class:`Tap`; the client is a
raw asyncio connection, or ``concentratorctl`` itself as a process.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from concentratord.access import Caller, Permission
from concentratord.config.sections import Role
from concentratord.control import Command, ControlCommand, ControlServer
from concentratord.tap import Tap, TapEvent
from concentratord.tap_cmd import event_line, parse_meter, tap_command
from tests.concentratord.access_helpers import as_role, recording_authority

BIN = Path(sys.executable).parent


def event(n: int, meter_id: str = "12345678", manufacturer: str = "KAM") -> TapEvent:
    """A decoded telegram as the frame loop publishes it; ``n`` orders them."""
    return {
        "time": f"2024-05-01T10:00:{n % 60:02d}.250Z",
        "id": meter_id,
        "manufacturer": manufacturer,
        "tenant": "water",
        "rssi_dbm": -71.5,
        "link_mode": "c1",
        "decode": "ok",
        "fields": {"total_m3": 100 + n, "status": "OK", "seq": n},
        "error": None,
    }


async def _status(args: dict[str, Any], caller: Caller) -> Any:
    return {"meters": 3}


def tap_server(tmp_path: Path, tap: Tap, role: Role = "superuser") -> tuple[str, ControlServer]:
    """A control server (not started) offering ``tap`` and ``status`` to a peer of ``role``,
    and its socket path."""
    path = str(tmp_path / "control.sock")
    commands: dict[str, Command] = {
        "tap": tap_command(tap),
        "status": ControlCommand(Permission.DATA, _status),
    }
    return path, ControlServer(path, commands, as_role(role), recording_authority([]))


@asynccontextmanager
async def serving(tmp_path: Path, tap: Tap, role: Role = "superuser") -> AsyncIterator[str]:
    """:func:`tap_server`, started, stopped on exit; yields the socket path."""
    path, server = tap_server(tmp_path, tap, role)
    await server.start()
    try:
        yield path
    finally:
        await server.stop()


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def open_tap(path: str, args: dict[str, Any] | None = None) -> tuple[Conn, dict[str, Any]]:
    """Connect, ask for ``tap`` and return the connection and the first reply line."""
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(json.dumps({"command": "tap", "args": args or {}}).encode() + b"\n")
    head = json.loads(await asyncio.wait_for(reader.readline(), 5))
    return (reader, writer), head


async def next_line(reader: asyncio.StreamReader, timeout: float = 1.0) -> dict[str, Any]:
    """The next stream line, within ``timeout`` seconds."""
    line = await asyncio.wait_for(reader.readline(), timeout)
    assert line, "the server closed the stream"
    decoded: dict[str, Any] = json.loads(line)
    return decoded


async def eventually(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    """Wait until ``predicate()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def test_stream_delivers_published_events_in_order_within_a_second(tmp_path: Path) -> None:
    tap = Tap()

    async def main() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        async with serving(tmp_path, tap) as path:
            (reader, writer), head = await open_tap(path)
            received = []
            for n in range(20):
                tap.publish(event(n))
                received.append(await next_line(reader, timeout=1.0))
            writer.close()
            return head, received

    head, received = asyncio.run(main())
    assert head == {"ok": True, "stream": True}
    assert received == [{"event": event(n)} for n in range(20)]


def test_meter_filter_streams_only_that_meter(tmp_path: Path) -> None:
    tap = Tap()

    async def main() -> list[dict[str, Any]]:
        async with serving(tmp_path, tap) as path:
            (reader, writer), _ = await open_tap(path, {"meter": "kam:22222222"})
            tap.publish(event(1, "11111111"))
            tap.publish(event(2, "22222222", manufacturer="LSE"))  # same id, other maker
            tap.publish(event(3, "22222222"))
            first = await next_line(reader)
            writer.close()
            return [first]

    assert asyncio.run(main()) == [{"event": event(3, "22222222")}]


def test_malformed_meter_filter_is_refused_with_the_expected_form(tmp_path: Path) -> None:
    tap = Tap()

    async def main() -> dict[str, Any]:
        async with serving(tmp_path, tap) as path:
            (_, writer), head = await open_tap(path, {"meter": "1234"})
            writer.close()
            return head

    head = asyncio.run(main())
    assert head["ok"] is False and "8 hex digits" in head["error"]
    assert not tap.watching


def test_user_is_refused_the_tap(tmp_path: Path) -> None:
    tap = Tap()

    async def main() -> dict[str, Any]:
        async with serving(tmp_path, tap, role="user") as path:
            (_, writer), head = await open_tap(path)
            writer.close()
            return head

    assert asyncio.run(main()) == {
        "ok": False,
        "error": 'tap needs "reading management"; you are alice (user)',
    }
    assert not tap.watching


def test_tap_with_all_watcher_places_taken_is_refused_as_busy(tmp_path: Path) -> None:
    tap = Tap(max_watchers=1)

    async def main() -> dict[str, Any]:
        async with serving(tmp_path, tap) as path:
            (_, first), _ = await open_tap(path)
            (_, second), head = await open_tap(path)
            first.close()
            second.close()
            return head

    head = asyncio.run(main())
    assert head["ok"] is False and head["error"].startswith("tap is busy")


def test_subscription_is_closed_when_the_client_disconnects(tmp_path: Path) -> None:
    tap = Tap()

    async def main() -> tuple[bool, bool]:
        async with serving(tmp_path, tap) as path:
            (_, writer), _ = await open_tap(path)
            watching_while_open = tap.watching
            writer.close()
            await eventually(lambda: not tap.watching)
            return watching_while_open, tap.watching

    assert asyncio.run(main()) == (True, False)


def test_server_stop_ends_the_stream_with_a_reason(tmp_path: Path) -> None:
    tap = Tap()

    async def main() -> tuple[dict[str, Any], bytes]:
        path, server = tap_server(tmp_path, tap)
        await server.start()
        (reader, writer), _ = await open_tap(path)
        await asyncio.wait_for(server.stop(), 5)
        last = await next_line(reader)
        after = await asyncio.wait_for(reader.read(), 5)  # then the server hangs up
        writer.close()
        return last, after

    last, after = asyncio.run(main())
    assert last == {"end": "concentratord is stopping"}
    assert after == b""
    assert not tap.watching


def test_server_stop_does_not_wait_long_for_a_client_that_does_not_read(tmp_path: Path) -> None:
    tap = Tap()

    async def main() -> float:
        path, server = tap_server(tmp_path, tap)
        await server.start()
        (_, writer), _ = await open_tap(path)
        for n in range(5000):  # far more than the socket buffers hold: the server's drain waits
            tap.publish(event(n))
            if n % 100 == 0:
                await asyncio.sleep(0.001)
        started = time.monotonic()
        await asyncio.wait_for(server.stop(), 10)
        writer.close()
        return time.monotonic() - started

    assert asyncio.run(main()) < 5.0  # cut off after CLOSE_S per step, not held open
    assert not tap.watching


def test_stalled_client_does_not_block_publish_and_is_told_what_it_lost(tmp_path: Path) -> None:
    tap = Tap()

    async def main() -> tuple[float, list[dict[str, Any]]]:
        async with serving(tmp_path, tap) as path:
            (reader, writer), _ = await open_tap(path)
            # The client reads nothing while 10,000 events go out; between chunks the
            # server may write until the socket's buffers are full and its drain() waits.
            spent = 0.0
            for chunk in range(100):
                started = time.perf_counter()
                for n in range(chunk * 100, chunk * 100 + 100):
                    tap.publish(event(n))
                spent += time.perf_counter() - started
                await asyncio.sleep(0.001)
            lines: list[dict[str, Any]] = []
            while not lines or "dropped" not in lines[-1]:
                lines.append(await next_line(reader, timeout=5))
            lines.append(await next_line(reader, timeout=5))  # the event after the gap
            writer.close()
            return spent, lines

    spent, lines = asyncio.run(main())
    assert spent < 1.0  # 10,000 publishes, none of them waiting for the client
    dropped = lines[-2]["dropped"]
    assert 0 < dropped < 10_000
    seqs = [line["event"]["fields"]["seq"] for line in lines if "event" in line]
    assert seqs == sorted(seqs)  # in order, the oldest lost
    assert seqs[-1] - seqs[-2] > 1  # the gap is where the dropped line says


def test_one_shot_commands_answer_while_a_stream_is_open(tmp_path: Path) -> None:
    tap = Tap()

    async def main() -> bytes:
        async with serving(tmp_path, tap) as path:
            (_, tap_writer), _ = await open_tap(path)
            reader, writer = await asyncio.open_unix_connection(path)
            writer.write(b'{"command": "status"}\n')
            reply = await asyncio.wait_for(reader.readline(), 5)
            writer.close()
            tap_writer.close()
            return reply

    assert json.loads(asyncio.run(main())) == {"ok": True, "result": {"meters": 3}}


def test_ctl_tap_json_prints_events_and_exits_0_on_sigint(tmp_path: Path) -> None:
    tap = Tap()

    async def main() -> tuple[list[dict[str, Any]], int, bytes]:
        async with serving(tmp_path, tap) as path:
            ctl = await asyncio.create_subprocess_exec(
                str(BIN / "concentratorctl"),
                "--socket",
                path,
                "tap",
                "--json",
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            assert ctl.stdout is not None and ctl.stderr is not None
            await eventually(lambda: tap.watching, timeout=10)
            printed = []
            for n in range(3):
                tap.publish(event(n))
                printed.append(json.loads(await asyncio.wait_for(ctl.stdout.readline(), 1)))
            ctl.send_signal(signal.SIGINT)
            code = await asyncio.wait_for(ctl.wait(), 10)
            return printed, code, await ctl.stderr.read()

    printed, code, stderr = asyncio.run(main())
    assert printed == [event(n) for n in range(3)]
    assert code == 0
    assert b"Traceback" not in stderr


def test_ctl_tap_exits_1_naming_the_reason_when_the_daemon_stops(tmp_path: Path) -> None:
    tap = Tap()

    async def main() -> tuple[int, bytes]:
        path, server = tap_server(tmp_path, tap)
        await server.start()
        ctl = await asyncio.create_subprocess_exec(
            str(BIN / "concentratorctl"), "--socket", path, "tap", stderr=subprocess.PIPE
        )
        assert ctl.stderr is not None
        await eventually(lambda: tap.watching, timeout=10)
        await server.stop()
        code = await asyncio.wait_for(ctl.wait(), 10)
        return code, await ctl.stderr.read()

    code, stderr = asyncio.run(main())
    assert code == 1
    assert stderr.decode().strip() == (
        "concentratorctl: concentratord ended the tap: concentratord is stopping"
    )


def test_ctl_tap_refuses_a_malformed_meter_before_connecting(tmp_path: Path) -> None:
    socket_path = str(tmp_path / "none.sock")
    result = subprocess.run(
        [str(BIN / "concentratorctl"), "--socket", socket_path, "tap", "--meter", "KAMSTRUP:1"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "expected ID (8 hex digits) or MAN:ID" in result.stderr


@pytest.mark.parametrize(
    ("text", "meter"),
    [("12345678", "12345678"), ("kam:1234abcd", "KAM:1234ABCD"), (" 0000FFFF ", "0000FFFF")],
)
def test_meter_filter_accepts_id_or_man_id(text: str, meter: str) -> None:
    assert parse_meter(text) == meter


@pytest.mark.parametrize("text", ["1234567", "123456789", "1234567G", "KA:12345678", "K4M:1"])
def test_meter_filter_refuses_other_forms(text: str) -> None:
    with pytest.raises(ValueError, match="8 hex digits"):
        parse_meter(text)


def test_human_line_shows_who_how_and_what_was_decoded() -> None:
    line = event_line(event(7) | {"fields": {"total_m3": 123.456, "status": "BURST LEAK"}})
    assert line.split()[:7] == ["10:00:07.250", "KAM:12345678", "water", "-71.5", "dBm", "c1", "ok"]
    assert line.endswith('total_m3=123.456 status="BURST LEAK"')


def test_human_line_of_an_undecodable_telegram_shows_the_error() -> None:
    failed = event(1) | {"decode": "no_key", "fields": None, "error": "no key for 12345678"}
    line = event_line(failed | {"tenant": None, "rssi_dbm": None})
    assert "  -  " in line and "- dBm" in line
    assert line.endswith("no_key     error: no key for 12345678")
