"""Who may do what, against the running daemon (docs/access.md): real Unix users on the
control socket, bearer tokens on the web API and a head-end on a real Mosquitto, every one
decided by the one permission table and every change and refusal in the audit trail.

One daemon for the module (an emulated iM871A on a pty, a real broker, the web API on the
loopback). Its users are real Unix users made for the module and removed after it:

- ``cdtest-admin``: administrator, by user name;
- ``cdtest-super``: superuser, through its group ``cdtest-supers`` (a supplementary group);
- ``cdtest-user``: user, by user name;
- ``cdtest-none``: no role at all.

root (uid 0) is administrator too: the fixtures put the permission table back through it
when a test failed half-way. The control socket is mode 0666 (``[control] socket_mode``) in
a directory of mode 0755, so that every one of them can reach it and the daemon decides.
The head-end acts with ``[access] headend_role = "user"``.
"""

from __future__ import annotations

import contextlib
import csv
import http.client
import io
import json
import shutil
import signal
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from radio.sim.imst import Im871aEmulator
from tests.concentratord.web_helpers import get
from tests.daemon.access_users import Account, Ctl, LocalAccounts, Result, require_accounts
from tests.daemon_harness import (
    GATEWAY,
    DaemonProcess,
    UplinkCollector,
    gateway_files,
    wait_configured,
    wait_until,
)
from tests.mqtt_broker import MosquittoBroker, free_port

HOST = socket.gethostname()
LOCAL = f"{HOST}/local"  # how the audit trail names the control socket's computer
TENANT = "default"  # the one tenant of a configuration without [[tenant]] tables
CLIENT_ID = "headend-test-1"  # what the head-end declares in its commands

# The default permission table (docs/access.md), written out: what each role may do.
PERMISSIONS = (
    "data access",
    "reading management",
    "device management",
    "group management",
    "system configuration",
    "access control",
)
DEFAULT_TABLE: dict[str, tuple[str, ...]] = {
    "administrator": PERMISSIONS,
    "superuser": PERMISSIONS[:5],  # all but access control
    "user": ("data access",),
    "none": (),  # a local user with no role
}
USERS = {
    "administrator": "cdtest-admin",
    "superuser": "cdtest-super",
    "user": "cdtest-user",
    "none": "cdtest-none",
}
SUPERS = "cdtest-supers"

# One control-socket action per permission that needs exactly that permission:
# (concentratorctl arguments, the command it sends, the action the daemon names).
ACTIONS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "data access": (("status",), "status", "status"),
    "reading management": (("tap",), "tap", "tap"),
    "device management": (("keys", "list"), "keys", "keys list"),
    "group management": (("group", "create"), "group", "group create"),  # + a group name
    "system configuration": (("config", "show"), "config", "config show"),
    "access control": (("audit",), "audit", "audit"),
}

# Web API tokens: name -> (role, token).
TOKENS = {
    "installer": ("user", "installer-token-0123456789abcdef"),
    "technician": ("superuser", "technician-token-0123456789abcd"),
    "owner": ("administrator", "owner-token-0123456789abcdef000"),
}

WEB_REFUSAL = 'GET /api/v1/tap needs "reading management"; you are installer (user)'


@dataclass(frozen=True)
class Expected:
    """An audit entry a test caused: it must be in the trail."""

    event: str  # "change" or "refusal"
    user: str
    computer: str
    action: str


@dataclass
class Gateway:
    """The running daemon and how to reach it as each user, token and head-end."""

    daemon: DaemonProcess
    collector: UplinkCollector
    web: str
    accounts: dict[str, Account]  # by role ("none": no role)
    ctl: Ctl
    ledger: list[Expected] = field(default_factory=list)  # what the tests made it audit

    def run(self, role: str, *args: str) -> Result:
        """``concentratorctl ARGS`` as the user holding ``role``."""
        return self.ctl.run(self.accounts[role], *args)

    def audit(self) -> list[dict[str, Any]]:
        """The whole audit trail, as the administrator reads it (``audit --json``)."""
        done = self.run("administrator", "audit", "--json")
        assert done.returncode == 0, done.stderr
        entries: list[dict[str, Any]] = json.loads(done.stdout)
        return entries

    def table(self) -> dict[str, dict[str, bool]]:
        """``access show`` as the administrator: permission -> role -> held."""
        done = self.run("administrator", "--json", "access", "show")
        assert done.returncode == 0, done.stderr
        return {row.pop("permission"): row for row in json.loads(done.stdout)}

    def headend(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """A head-end command declaring :data:`CLIENT_ID`; its reply."""
        payload = {"gateway": GATEWAY, "args": args, "client_id": CLIENT_ID}
        return self.collector.command(name, payload, daemon=self.daemon)


def refusal(command: str, action: str, permission: str, account: Account, role: str) -> str:
    """What ``concentratorctl`` prints on stderr when the daemon refuses."""
    described = f"{account.name} ({'no role' if role == 'none' else role})"
    reason = f'{action} needs "{permission}"; you are {described}'
    return f"concentratorctl: concentratord refused {command}: {reason}"


def _access_text(web_port: int) -> str:
    """``[access]``: the roles of the test users, the head-end's; ``[web]`` with the tokens."""
    roles = (
        "[access]\n"
        'headend_role = "user"\n'
        f'administrator = {{ users = ["{USERS["administrator"]}", 0] }}\n'
        f'superuser = {{ groups = ["{SUPERS}"] }}\n'
        f'user = {{ users = ["{USERS["user"]}"] }}\n'
    )
    web = f'[web]\nlisten = "127.0.0.1:{web_port}"\n'
    for name, (role, token) in TOKENS.items():
        web += f'[[web.token]]\nname = "{name}"\nrole = "{role}"\ntoken = "{token}"\n'
    return roles + web


def _configure(text: str, old_socket: Path, new_socket: Path, web_port: int) -> str:
    """The harness's configuration with this module's socket, roles and tokens instead."""
    control = f"[control]\nsocket = {json.dumps(str(old_socket))}\n"
    start = text.index("[access]\n")
    assert control in text and text[start:].count("\n") == 2, "the harness's layout changed"
    mine = f"[control]\nsocket = {json.dumps(str(new_socket))}\nsocket_mode = 0o666\n"
    return text[:start].replace(control, mine) + _access_text(web_port)


@pytest.fixture(scope="module")
def accounts() -> Iterator[dict[str, Account]]:
    require_accounts()
    made = LocalAccounts()
    try:
        made.group(SUPERS)
        yield {
            role: made.user(name, groups=[SUPERS] if role == "superuser" else [])
            for role, name in USERS.items()
        }
    finally:
        made.remove()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, accounts: dict[str, Account]) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("access")
    with contextlib.ExitStack() as stack:
        broker = MosquittoBroker(tmp / "broker")
        broker.start()
        stack.callback(broker.stop)
        collector = UplinkCollector(broker)
        stack.callback(collector.close)
        emulator = Im871aEmulator(str(tmp / "ttyEMU0"))
        emulator.start()
        stack.callback(emulator.close)
        # tmp_path is 0700: the socket goes where the test users can reach it.
        socket_dir = Path(tempfile.mkdtemp(prefix="cd-access-", dir="/tmp"))
        stack.callback(shutil.rmtree, socket_dir, ignore_errors=True)
        socket_dir.chmod(0o755)
        files = gateway_files(
            tmp / "gw", broker_url=broker.url, radio_port=emulator.path, keys_text=""
        )
        web_port = free_port()
        sock = socket_dir / "control.sock"
        text = _configure(files.config.read_text(), files.socket, sock, web_port)
        files.config.write_text(text)
        files = replace(files, socket=sock)
        daemon = DaemonProcess(files)
        daemon.start()
        stack.callback(daemon.stop)
        wait_configured(emulator, daemon)
        collector.wait_online(daemon=daemon)
        web = f"http://127.0.0.1:{web_port}"
        wait_until(lambda: _web_up(web), 20.0, "the web server", daemon)
        ctl = Ctl(sock, accounts["none"])
        print(f"concentratorctl runs as: {ctl.how}")
        yield Gateway(daemon, collector, web, accounts, ctl)


def _web_up(web: str) -> bool:
    try:
        return get(f"{web}/api/v1/meters", TOKENS["owner"][1])[0] == 200
    except OSError:
        return False


@pytest.fixture
def restore_table(gw: Gateway) -> Iterator[None]:
    """Put the permission table back (through root) if a test left it changed."""
    yield
    table = gw.table()
    for permission, roles in table.items():
        for role in ("user", "superuser"):
            wanted = permission in DEFAULT_TABLE[role]
            if roles[role] != wanted:
                action = "grant" if wanted else "revoke"
                gw.daemon.control(
                    "access", {"action": action, "role": role, "permission": permission}
                )


# -- the table as it is --------------------------------------------------------------------


def test_access_show_prints_the_default_table(gw: Gateway) -> None:
    expected = {
        p: {role: p in DEFAULT_TABLE[role] for role in ("administrator", "superuser", "user")}
        for p in PERMISSIONS
    }
    assert gw.table() == expected


def _open_tap(gw: Gateway, role: str) -> None:
    """``concentratorctl tap`` as ``role``: the daemon opens the stream and keeps it until
    the client goes (SIGTERM: a SIGINT would be ignored when the tests run in the background).
    """
    account = gw.accounts[role]
    opened = f"control: uid {account.uid} opened a stream"
    closed = f"control: uid {account.uid} stream ended: client closed"

    def seen(line: str) -> int:
        return gw.daemon.stderr_text(tail=10**9).count(line)

    before = seen(opened), seen(closed)
    tap = gw.ctl.start(account, "tap")
    try:
        wait_until(
            lambda: seen(opened) > before[0] or tap.poll() is not None,
            10.0,
            f"tap opened for {account.name}",
            gw.daemon,
        )
        time.sleep(0.2)  # open, not just accepted: it is still running a moment later
        assert tap.poll() is None, f"tap ended: {tap.communicate()}"
        tap.terminate()
        out, err = tap.communicate(timeout=10)
        assert (tap.returncode, out, err) == (-signal.SIGTERM, "", "")
        wait_until(lambda: seen(closed) > before[1], 10.0, "tap stream ended", gw.daemon)
    finally:
        if tap.poll() is None:
            tap.kill()
            tap.communicate()


CASES = [
    pytest.param(
        role, permission, permission in allowed, id=f"{role}-{permission.replace(' ', '-')}"
    )
    for role, allowed in DEFAULT_TABLE.items()
    for permission in PERMISSIONS
]


@pytest.mark.parametrize(("role", "permission", "allowed"), CASES)
def test_the_control_socket_allows_exactly_what_the_default_table_gives_each_role(
    gw: Gateway, role: str, permission: str, allowed: bool
) -> None:
    account = gw.accounts[role]
    args, command, action = ACTIONS[permission]
    if permission == "group management":
        args = (*args, f"table-{role}")
    if allowed and permission == "reading management":
        _open_tap(gw, role)
        return
    done = gw.run(role, *args)
    if allowed:
        assert (done.returncode, done.stderr) == (0, ""), done.stderr
        if permission == "group management":
            gw.ledger.append(Expected("change", account.name, LOCAL, action))
            assert f"table-{role}" in done.stdout
        return
    assert done.returncode == 1, done.stdout
    assert done.stderr.rstrip("\n") == refusal(command, action, permission, account, role)
    assert done.stdout == ""
    gw.ledger.append(Expected("refusal", account.name, LOCAL, action))


# -- changing the table --------------------------------------------------------------------


@pytest.mark.usefixtures("restore_table")
def test_a_granted_permission_holds_at_once_and_a_revoked_one_is_gone(gw: Gateway) -> None:
    user, admin = gw.accounts["user"], gw.accounts["administrator"]
    granted = gw.run("administrator", "access", "grant", "user", "device management")
    assert granted.returncode == 0, granted.stderr
    gw.ledger.append(Expected("change", admin.name, LOCAL, "access grant"))
    assert gw.run("user", "keys", "list").returncode == 0

    revoked = gw.run("administrator", "access", "revoke", "user", "device management")
    assert revoked.returncode == 0, revoked.stderr
    gw.ledger.append(Expected("change", admin.name, LOCAL, "access revoke"))
    again = gw.run("user", "keys", "list")
    assert again.returncode == 1
    assert again.stderr.rstrip("\n") == refusal(
        "keys", "keys list", "device management", user, "user"
    )
    gw.ledger.append(Expected("refusal", user.name, LOCAL, "keys list"))


@pytest.mark.usefixtures("restore_table")
def test_the_superuser_cannot_change_the_permission_table(gw: Gateway) -> None:
    superuser = gw.accounts["superuser"]
    done = gw.run("superuser", "access", "grant", "user", "device management")
    assert done.returncode == 1
    assert done.stderr.rstrip("\n") == refusal(
        "access", "access grant", "access control", superuser, "superuser"
    )
    gw.ledger.append(Expected("refusal", superuser.name, LOCAL, "access grant"))
    assert gw.table()["device management"]["user"] is False


@pytest.mark.usefixtures("restore_table")
def test_permission_changes_are_audited_with_the_administrators_name(gw: Gateway) -> None:
    admin = gw.accounts["administrator"]
    before = len(gw.audit())
    for action in ("grant", "revoke"):
        done = gw.run("administrator", "access", action, "user", "system configuration")
        assert done.returncode == 0, done.stderr
        gw.ledger.append(Expected("change", admin.name, LOCAL, f"access {action}"))
    new = gw.audit()[before:]
    for entry in new:
        entry.pop("time")
    assert new == [
        {
            "event": "change",
            "user": admin.name,
            "computer": LOCAL,
            "tenant": None,
            "action": f"access {action}",
            "args": {"action": action, "role": "user", "permission": "system configuration"},
            "outcome": "done",
        }
        for action in ("grant", "revoke")
    ]


# -- the audit trail -----------------------------------------------------------------------


def test_every_change_and_refusal_is_audited_with_the_unix_user_and_this_computer(
    gw: Gateway,
) -> None:
    # One of each here, so that the check means something when this test runs alone.
    assert gw.run("none", "status").returncode == 1
    gw.ledger.append(Expected("refusal", gw.accounts["none"].name, LOCAL, "status"))
    assert gw.run("superuser", "group", "create", "audited").returncode == 0
    gw.ledger.append(Expected("change", gw.accounts["superuser"].name, LOCAL, "group create"))

    entries = gw.audit()
    found = Counter(Expected(e["event"], e["user"], e["computer"], e["action"]) for e in entries)
    wanted = Counter(gw.ledger)
    short = {e: (n, found[e]) for e, n in wanted.items() if found[e] < n}
    assert not short, f"(expected, found) entries: {short}"
    local_users = {a.name for a in gw.accounts.values()}
    assert {e["computer"] for e in entries if e["user"] in local_users} == {LOCAL}
    for entry in entries:
        if entry["event"] == "refusal" and entry["user"] in local_users:
            assert entry["outcome"].startswith(f"refused: {entry['action']} needs "), entry


def test_reads_are_not_audited(gw: Gateway) -> None:
    reads = [
        ("user", "status"),
        ("administrator", "keys", "list"),
        ("administrator", "config", "show"),
    ]
    before = len(gw.audit())
    for role, *args in reads:
        done = gw.run(role, *args)
        assert done.returncode == 0, done.stderr
    assert gw.audit()[before:] == []


def test_audit_csv_prints_a_header_and_a_row_per_entry(gw: Gateway) -> None:
    entries = gw.audit()
    assert entries, "nothing audited yet"
    done = gw.run("administrator", "audit", "--csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows[0] == ["time", "event", "user", "computer", "tenant", "action", "args", "outcome"]
    assert len(rows) == len(entries) + 1
    for row, entry in zip(rows[1:], entries, strict=True):
        assert row[1:4] == [entry["event"], entry["user"], entry["computer"]]
        assert row[4] == (entry["tenant"] or "")
        assert (row[5], json.loads(row[6]), row[7]) == (
            entry["action"],
            entry["args"],
            entry["outcome"],
        )
        assert time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(entry["time"])) == row[0]


# -- the web API ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", TOKENS)
def test_every_web_role_may_list_meters(gw: Gateway, name: str) -> None:
    status, _, body = get(f"{gw.web}/api/v1/meters", TOKENS[name][1])
    assert status == 200, body
    assert body == {"meters": [], "others": 0}


def test_the_web_tap_is_refused_to_the_user_role_naming_the_permission_and_the_token(
    gw: Gateway,
) -> None:
    status, _, body = get(f"{gw.web}/api/v1/tap", TOKENS["installer"][1])
    assert status == 403
    assert body == {"error": WEB_REFUSAL}


@pytest.mark.parametrize("name", ["technician", "owner"])
def test_the_web_tap_opens_for_the_superuser_and_the_administrator(gw: Gateway, name: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", int(gw.web.rpartition(":")[2]), timeout=10)
    try:
        conn.request("GET", "/api/v1/tap", headers={"Authorization": f"Bearer {TOKENS[name][1]}"})
        response = conn.getresponse()
        assert response.status == 200, response.read(2000)
        assert response.getheader("Content-Type", "").startswith("text/event-stream")
    finally:
        conn.close()


def test_a_web_refusal_is_audited_with_the_token_name_and_the_client_address(
    gw: Gateway,
) -> None:
    before = len(gw.audit())
    assert get(f"{gw.web}/api/v1/tap", TOKENS["installer"][1])[0] == 403
    new = gw.audit()[before:]
    for entry in new:
        entry.pop("time")
    assert new == [
        {
            "event": "refusal",
            "user": "installer",
            "computer": f"{HOST}/127.0.0.1",
            "tenant": None,
            "action": "GET /api/v1/tap",
            "args": {},
            "outcome": f"refused: {WEB_REFUSAL}",
        }
    ]


def test_a_stream_token_given_in_the_query_is_in_neither_the_audit_nor_the_journal(
    gw: Gateway,
) -> None:
    before = len(gw.audit())
    status, _, body = get(f"{gw.web}/api/v1/tap?token={TOKENS['installer'][1]}")
    assert (status, body) == (403, {"error": WEB_REFUSAL})
    new = gw.audit()[before:]
    assert [(e["user"], e["action"], e["args"]) for e in new] == [
        ("installer", "GET /api/v1/tap", {"token": "<redacted>"})
    ]
    assert TOKENS["installer"][1] not in json.dumps(new)
    assert TOKENS["installer"][1] not in gw.daemon.stderr_text(tail=10**9)


# -- the head-end (headend_role = "user") --------------------------------------------------


def test_a_headend_with_role_user_is_refused_set_priority_meters(gw: Gateway) -> None:
    reply = gw.headend("set_priority_meters", {"meters": ["12345678"]})
    assert reply["ok"] is False, reply
    assert reply["error"] == (
        f'set_priority_meters needs "reading management"; you are tenant:{TENANT} (user)'
    )


def test_a_headend_with_role_user_may_get_status(gw: Gateway) -> None:
    reply = gw.headend("get_status", {})
    assert reply["ok"] is True, reply
    assert reply["command"] == "get_status"


def test_headend_commands_are_audited_as_the_tenant_from_its_declared_client_id(
    gw: Gateway,
) -> None:
    before = len(gw.audit())
    gw.headend("set_priority_meters", {"meters": ["12345678"]})
    gw.headend("get_status", {})
    new = gw.audit()[before:]
    who = {"user": f"tenant:{TENANT}", "computer": f"{HOST}/mqtt:{CLIENT_ID}", "tenant": TENANT}
    assert [{k: e[k] for k in ("user", "computer", "tenant")} for e in new] == [who, who]
    reason = f'set_priority_meters needs "reading management"; you are tenant:{TENANT} (user)'
    assert [(e["event"], e["action"], e["outcome"]) for e in new] == [
        ("refusal", "set_priority_meters", f"refused: {reason}"),
        ("read", "get_status", "done"),
    ]
    assert new[0]["args"] == {"meters": ["12345678"]}
