"""Test helpers: a real Mosquitto on a free loopback port, a paho subscriber, TLS files.

docs/design.md, "Testing: real parts only": no mocked broker. ``MosquittoBroker`` writes its
own configuration into a temporary directory, starts ``mosquitto -c`` on 127.0.0.1, waits
until the port accepts connections, and can be stopped, started again on the same port, or
killed (outage tests). With ``users`` it refuses anonymous clients and knows those users
(password file by ``mosquitto_passwd``); with ``acl`` too, each user may only read and write
the topics its ``user NAME`` block in the ACL file lists (a shared gateway's tenants).
A missing mosquitto is an error, never a skip: ``make setup`` installs it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

HOST = "127.0.0.1"
_SEARCH = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
# The access of an ACL ``topic`` line (mosquitto.conf(5), acl_file); "deny" since 1.6.
ACL_ACCESS = frozenset({"read", "write", "readwrite", "deny"})
# One user's ACL: ``(access, topic pattern)`` lines, e.g. ``[("readwrite", "utility-a/#")]``.
AclRules = Iterable[tuple[str, str]]


def _tool(name: str, fallbacks: tuple[str, ...] = ()) -> str:
    found = shutil.which(name) or next((p for p in fallbacks if Path(p).exists()), None)
    if found is None:
        raise RuntimeError(
            f"{name} not found: install the Debian packages mosquitto and mosquitto-clients "
            "(make setup does)"
        )
    return found


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float, alive: Callable[[], bool]) -> None:
    """Return once ``port`` accepts a TCP connection; raise if ``alive()`` turns false."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError("mosquitto exited during start-up")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"mosquitto did not listen on {HOST}:{port} within {timeout} s")


@dataclass(frozen=True)
class TlsFiles:
    """A CA and a server and client certificate it signed (PEM files)."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """Generate a CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    openssl = _tool("openssl")
    directory.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, cwd=directory)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    subject = "/CN=concentratord test CA"
    run("req", "-x509", *ec, "-days", "2", "-keyout", "ca.key", "-out", "ca.crt", "-subj", subject)
    for name, extension in (
        ("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        (directory / f"{name}.ext").write_text(extension + "\n")
        run("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        signing = ["-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2"]
        run(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            *signing,
            "-out",
            f"{name}.crt",
            "-extfile",
            f"{name}.ext",
        )
    return TlsFiles(
        ca=directory / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
    )


def write_acl_file(path: Path, acl: Mapping[str, AclRules]) -> Path:
    """Write mosquitto's ``acl_file``: a ``user NAME`` block of ``topic ACCESS PATTERN``
    lines per user (mode 0600: mosquitto 2 warns about files others may read)."""
    blocks = []
    for user, rules in acl.items():
        if not user or any(c.isspace() for c in user):
            raise ValueError(f"ACL user name {user!r}: empty or with white space")
        block = [f"user {user}"]
        for access, pattern in rules:
            if access not in ACL_ACCESS:
                raise ValueError(f"ACL access {access!r} for {user}: one of {sorted(ACL_ACCESS)}")
            if not pattern or "\n" in pattern:
                raise ValueError(f"ACL topic pattern {pattern!r} for {user}")
            block.append(f"topic {access} {pattern}")
        blocks.append("\n".join(block))
    path.touch(mode=0o600)
    path.write_text("\n\n".join(blocks) + "\n")
    return path


class MosquittoBroker:
    """A mosquitto process on ``127.0.0.1:port`` with a generated configuration.

    ``users`` (name -> password): anonymous clients are refused and these users are known.
    ``acl`` (name -> ``(access, pattern)`` lines, access ``read``, ``write``, ``readwrite``
    or ``deny``): written as the broker's ``acl_file``, one ``user NAME`` block each; a user
    without a block (or a topic no line of its block matches) may read and write nothing.
    ``acl`` needs ``users``. Without either the broker takes anyone, as before.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        users: Mapping[str, str] | None = None,
        acl: Mapping[str, AclRules] | None = None,
        tls: TlsFiles | None = None,
        require_certificate: bool = False,
    ) -> None:
        if acl is not None and not users:
            raise ValueError("an ACL needs users: anonymous clients would bypass it")
        unknown = sorted(set(acl or ()) - set(users or ()))
        if unknown:
            raise ValueError(f"ACL for unknown user(s) {unknown}: not in users")
        self.binary = _tool("mosquitto", _SEARCH)
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.tls = tls
        self.log_path = workdir / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None
        lines = [f"listener {self.port} {HOST}", "persistence false", "log_type all"]
        lines.append(f"log_dest file {self.log_path}")
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to user mosquitto and cannot read tmp
        if users:
            passwd = workdir / "passwd"
            passwd.touch(mode=0o600)
            for user, password in users.items():
                subprocess.run(
                    [_tool("mosquitto_passwd"), "-b", str(passwd), user, password],
                    check=True,
                    capture_output=True,
                )
            lines += ["allow_anonymous false", f"password_file {passwd}"]
            if acl is not None:
                lines.append(f"acl_file {write_acl_file(workdir / 'acl', acl)}")
        else:
            lines.append("allow_anonymous true")
        if tls is not None:
            lines += [
                f"cafile {tls.ca}",
                f"certfile {tls.server_cert}",
                f"keyfile {tls.server_key}",
                f"require_certificate {'true' if require_certificate else 'false'}",
            ]
        self.config = workdir / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")

    @property
    def url(self) -> str:
        """``mqtt://`` or ``mqtts://`` URL of this broker."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start (again, on the same port) and wait until it accepts connections."""
        if self.running:
            return
        self._proc = subprocess.Popen(
            [self.binary, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for_port(self.port, timeout, lambda: self.running)
        except (RuntimeError, TimeoutError) as exc:
            err = b"" if self._proc.stderr is None else self._proc.stderr.read()
            raise RuntimeError(f"{exc}: {err.decode(errors='replace')}{self.log()}") from None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM and wait: a clean broker shutdown."""
        self._end(signal.SIGTERM, timeout)

    def kill(self, timeout: float = 10.0) -> None:
        """SIGKILL: the broker vanishes without a word to its clients."""
        self._end(signal.SIGKILL, timeout)

    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing is answered (no PUBACK)."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)

    def _end(self, sig: signal.Signals, timeout: float) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        proc.send_signal(signal.SIGCONT)  # a paused broker must still act on SIGTERM
        proc.wait(timeout)
        if proc.stderr is not None:
            proc.stderr.close()

    def log(self) -> str:
        """The broker's log so far (for assertion messages)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> MosquittoBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


@dataclass
class Received:
    """One message a :class:`Subscriber` got."""

    topic: str
    payload: bytes
    retain: bool
    properties: Any


class Subscriber:
    """A paho client (MQTT 5 by default) that records what it receives, for assertions.

    ``username``/``password`` log in to a broker started with ``users``. A refused
    connection (bad credentials, anonymous on such a broker) does not raise: the
    constructor returns with :attr:`refused` True, :attr:`reason` the broker's CONNACK
    reason (e.g. ``"Not authorized"``) and the network thread stopped; :meth:`wait_for`
    and :meth:`publish` then raise. :attr:`granted` holds the SUBACK reason of each topic,
    :attr:`denied` the topics refused (mosquitto 2.0 grants a subscription an ACL does not
    cover and filters at delivery instead: nothing arrives from there).
    """

    def __init__(
        self,
        broker: MosquittoBroker,
        topics: list[str],
        *,
        mqtt5: bool = True,
        client_id: str = "test-subscriber",
        username: str | None = None,
        password: str | None = None,
        **connect_options: Any,
    ) -> None:
        self.messages: list[Received] = []
        self.topics = list(topics)
        self.refused = False
        self.reason: str | None = None  # the CONNACK reason of the last connection attempt
        self.granted: list[Any] = []  # the last SUBACK's reason codes, one per topic
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._answered = threading.Event()  # SUBACK or a refused CONNACK
        protocol = MQTTProtocolVersion.MQTTv5 if mqtt5 else MQTTProtocolVersion.MQTTv311
        self.client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol
        )
        # Earlier callers passed the credentials through connect_options.
        username = username if username is not None else connect_options.get("username")
        password = password if password is not None else connect_options.get("password")
        if username is not None:
            self.client.username_pw_set(username, password)
        if broker.tls is not None:
            self.client.tls_set(
                ca_certs=str(broker.tls.ca),
                certfile=str(broker.tls.client_cert),
                keyfile=str(broker.tls.client_key),
            )
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        # Subscribe on every connect: paho reconnects by itself after a broker restart.
        self.client.on_connect = self._on_connect
        self.client.connect(HOST, broker.port, keepalive=30)
        self.client.loop_start()
        if not self._answered.wait(10):
            raise TimeoutError("subscriber got no CONNACK refusal and no SUBACK")
        if self.refused:
            self.client.loop_stop()

    @property
    def denied(self) -> list[str]:
        """The topics whose subscription the broker refused (SUBACK failure codes)."""
        return [t for t, rc in zip(self.topics, self.granted, strict=False) if rc.is_failure]

    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self.reason = str(rc)
        if rc.is_failure:
            self.refused = True
            client.disconnect()  # no reconnect with the same credentials
            self._answered.set()
            return
        client.subscribe([(t, 1) for t in self.topics])

    def _on_subscribe(self, _c: Any, _u: Any, _mid: int, codes: list[Any], _p: Any) -> None:
        self.granted = list(codes)
        self._subscribed.set()
        self._answered.set()

    def _check_connected(self) -> None:
        if self.refused:
            raise ConnectionRefusedError(f"the broker refused this subscriber: {self.reason}")

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        with self._cond:
            payload = bytes(msg.payload)  # paho types it bytes | bytearray
            properties = getattr(msg, "properties", None)
            self.messages.append(Received(msg.topic, payload, bool(msg.retain), properties))
            self._cond.notify_all()

    def _find(self, topic: str | None, where: Callable[[Received], bool] | None) -> Received | None:
        for message in self.messages:
            if (topic is None or message.topic == topic) and (where is None or where(message)):
                return message
        return None

    async def wait_for(
        self,
        topic: str | None = None,
        where: Callable[[Received], bool] | None = None,
        timeout: float = 10.0,
    ) -> Received:
        """The first message on ``topic`` matching ``where``, waiting for it (asyncio-friendly)."""
        self._check_connected()
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                found = self._find(topic, where)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                seen = [(m.topic, m.payload[:80]) for m in self.messages]
                raise TimeoutError(f"no message on {topic!r} within {timeout} s; got {seen}")
            # Paho delivers on its own thread: poll briefly instead of blocking the loop.
            await asyncio.sleep(0.01)

    def publish(self, topic: str, payload: bytes, properties: Any = None) -> None:
        """Publish (QoS 1) and wait for the PUBACK, as a head-end sending a command."""
        self._check_connected()
        self.client.publish(topic, payload, qos=1, properties=properties).wait_for_publish(10)

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()  # MQTT_ERR_INVAL, harmless, when refused: already stopped


class Ids:
    """Monotonic message ids for an uplink under test (the daemon's store does this)."""

    def __init__(self) -> None:
        self.last = 0

    def __call__(self) -> int:
        self.last += 1
        return self.last


def make_uplink(broker: MosquittoBroker, gateway: str = "gw-0001", **options: Any) -> Any:
    """An ``MqttUplink`` for ``broker`` with test-sized delays and simple state documents.

    ``options`` go to :class:`uplink.MqttUplink`, except ``settings`` (a dict of
    :class:`uplink.BrokerSettings` fields to override).
    """
    from datetime import UTC, datetime

    from uplink import BrokerSettings, MqttUplink
    from uplink.messages import offline_state, online_state

    ids = options.pop("message_ids", Ids())
    overrides = options.pop("settings", {})
    fields: dict[str, Any] = {
        "url": broker.url,
        "reconnect_min_delay": 0.05,
        "reconnect_max_delay": 0.5,
        "connect_timeout": 5.0,
        "keepalive": 10,
    }
    fields.update(overrides)
    settings = BrokerSettings(**fields)
    counters = {"connects": 0}

    def online() -> dict[str, Any]:
        counters["connects"] += 1
        return online_state(
            gateway=gateway,
            message_id=ids(),
            time=datetime(2026, 3, 1, tzinfo=UTC),
            version="0.1.0",
            profile="mini",
            radio={"module": "im871a", "mode": "c1"},
            uptime_s=1,
            counters=counters,
        )

    def offline(reason: str) -> dict[str, Any]:
        return offline_state(gateway=gateway, message_id=ids(), reason=reason)

    return MqttUplink(
        settings,
        gateway_id=gateway,
        online_state=online,
        offline_state=offline,
        message_ids=ids,
        **options,
    )
