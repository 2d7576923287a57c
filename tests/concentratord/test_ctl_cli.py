"""``concentratorctl``: the client side of the control socket, against a test server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent


class FakeDaemon:
    """Answers one JSON line per connection with a canned reply; records requests."""

    def __init__(self, path: Path, reply: dict[str, Any]) -> None:
        self.reply = reply
        self.requests: list[dict[str, Any]] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while not data.endswith(b"\n"):
                    data += conn.recv(4096)
                self.requests.append(json.loads(data))
                conn.sendall(json.dumps(self.reply).encode() + b"\n")


@pytest.fixture
def socket_path(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "control.sock"


def ctl(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "concentratorctl"), "--socket", str(path), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_no_daemon_exits_non_zero_with_a_reason(socket_path: Path) -> None:
    result = ctl(socket_path, "status")
    assert result.returncode == 1
    assert "is it running" in result.stderr
    assert result.stdout == ""


def test_status_prints_key_value_lines(socket_path: Path) -> None:
    daemon = FakeDaemon(socket_path, {"ok": True, "result": {"gateway": "gw-1", "meters": 3}})
    result = ctl(socket_path, "status")
    assert result.returncode == 0
    assert result.stdout.split() == ["gateway", "gw-1", "meters", "3"]
    assert daemon.requests == [{"command": "status", "args": {}}]


def test_meters_table_has_a_header_and_a_row_per_meter(socket_path: Path) -> None:
    rows = [{"id": "11111111", "rssi_dbm": -70}, {"id": "22222222", "rssi_dbm": -81}]
    FakeDaemon(socket_path, {"ok": True, "result": rows})
    lines = ctl(socket_path, "meters").stdout.splitlines()
    assert lines[0].split() == ["id", "rssi_dbm"]
    assert [line.split()[0] for line in lines[1:]] == ["11111111", "22222222"]


def test_json_option_prints_the_result_as_json(socket_path: Path) -> None:
    rows = [{"id": "11111111"}]
    FakeDaemon(socket_path, {"ok": True, "result": rows})
    assert json.loads(ctl(socket_path, "--json", "meters").stdout) == rows


ROW = {
    "id": "76348799",
    "manufacturer": "KAM",
    "media": "cold water",
    "tenant": "water",
    "telegrams": 12,
    "first_heard": "2026-12-01T10:00:00Z",
    "last_heard": "2026-12-01T14:03:10Z",
    "rssi_dbm": {"last": -71.0, "min": -75.0, "mean": -72.5, "max": -69.0},
    "link_mode": "c1",
    "decode": "ok",
    "interval_s": 96.0,
    "reception_rate": 0.97,
    "quality": "good",
}


def test_visible_passes_the_serial(socket_path: Path) -> None:
    daemon = FakeDaemon(socket_path, {"ok": True, "result": ROW})
    ctl(socket_path, "visible", "76348799")
    assert daemon.requests[0] == {"command": "visible", "args": {"serial": "76348799"}}


def test_visible_serial_answers_in_one_sentence(socket_path: Path) -> None:
    FakeDaemon(socket_path, {"ok": True, "result": ROW})
    first = ctl(socket_path, "visible", "76348799").stdout.splitlines()[0]
    assert first == (
        "KAM:76348799 heard 12 times, last at 2026-12-01T14:03:10Z, RSSI -71.0 dBm,"
        " reception 97 % (good), decode ok"
    )


def test_visible_lists_meters_with_reception_and_a_count_of_others(socket_path: Path) -> None:
    FakeDaemon(socket_path, {"ok": True, "result": {"meters": [ROW], "others": 3}})
    lines = ctl(socket_path, "visible").stdout.splitlines()
    assert lines[0].split()[:4] == ["id", "man", "tenant", "media"]
    assert "97 %" in lines[1] and "good" in lines[1]
    assert lines[-1] == "(and 3 meters of others)"


def test_refusal_is_reported_with_the_daemons_reason(socket_path: Path) -> None:
    FakeDaemon(socket_path, {"ok": False, "error": 'keys remove needs "device management"'})
    result = ctl(socket_path, "keys", "remove", "12345678")
    assert result.returncode == 1
    assert 'keys remove needs "device management"' in result.stderr


def test_a_key_on_the_command_line_is_refused_before_anything_is_sent(socket_path: Path) -> None:
    result = ctl(socket_path, "keys", "import", "12345678", "00" * 16)
    assert result.returncode == 1
    assert "keys never on argv" in result.stderr


def test_a_kem_file_is_decrypted_here_and_only_its_keys_are_sent(
    socket_path: Path, tmp_path: Path
) -> None:
    from protocols.kem import build_kem

    key = bytes(range(16))
    kem = tmp_path / "delivery.kem"
    kem.write_bytes(build_kem({"12345678": key}, "s3cret-pass"))
    password = tmp_path / "kem.pw"
    password.write_text("s3cret-pass\n")
    daemon = FakeDaemon(socket_path, {"ok": True, "result": {"imported": 1}})
    result = ctl(socket_path, "keys", "import", "--kem", str(kem), "--password-file", str(password))
    assert result.returncode == 0, result.stderr
    (sent,) = daemon.requests
    assert sent["args"]["text"] == f"12345678 {key.hex()}\n"
    assert sent["args"]["source"] == str(kem)
    assert "s3cret-pass" not in json.dumps(sent)


def test_a_kem_file_with_the_wrong_password_sends_nothing(
    socket_path: Path, tmp_path: Path
) -> None:
    from protocols.kem import build_kem

    kem = tmp_path / "delivery.kem"
    kem.write_bytes(build_kem({"12345678": bytes(16)}, "right"))
    password = tmp_path / "kem.pw"
    password.write_text("wrong")
    daemon = FakeDaemon(socket_path, {"ok": True, "result": {}})
    result = ctl(socket_path, "keys", "import", "--kem", str(kem), "--password-file", str(password))
    assert result.returncode == 1 and str(kem) in result.stderr
    assert daemon.requests == []


def test_keys_are_read_from_stdin_for_dash(socket_path: Path) -> None:
    daemon = FakeDaemon(socket_path, {"ok": True, "result": {"imported": 1}})
    result = subprocess.run(
        [str(BIN / "concentratorctl"), "--socket", str(socket_path), "keys", "import", "-"],
        input="12345678 " + "00" * 16 + "\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert daemon.requests[0]["args"] == {
        "action": "import",
        "text": "12345678 " + "00" * 16 + "\n",
        "source": "stdin",
    }
