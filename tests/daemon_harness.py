"""End-to-end harness: ``concentratord run`` as a real subprocess against a real broker.

docs/design.md, "Testing: real parts only". A test builds the pieces it needs from these:

- :func:`gateway_files` writes the daemon's configuration (and keys file) into a directory:
  ``state/`` (state dir), ``state/store.sqlite``, a control socket, ``daemon.stderr``.
- :class:`DaemonProcess` starts ``concentratord run --config FILE`` (the console script
  next to ``sys.executable``), stops it with SIGTERM or SIGKILLs it; its stderr goes to a
  file that :meth:`DaemonProcess.stderr_text` returns for assertion messages;
  :meth:`DaemonProcess.control` sends a control-socket command. Every wait here fails at
  once, with that stderr, if the daemon has died.
- :func:`wait_configured` waits until the daemon has configured the emulated module
  (``emulator.mode`` set): from then on it reads the pty.
- :class:`UplinkCollector` subscribes to everything under ``{prefix}/gateway/#`` (and the
  replies of the commands it sends) and keeps every message with its payload decoded as
  JSON; :meth:`UplinkCollector.wait_online` waits for the gateway's ``online`` state
  (connected), :meth:`UplinkCollector.command` sends a head-end command and returns its
  reply.
- :class:`FieldFeed` wraps a :class:`~radio.sim.field.Field` for a
  :class:`~radio.sim.runner.FieldRunner`: nothing goes on the pty before :meth:`FieldFeed.arm`
  (the daemon has configured the module), and optionally nothing within a guard band around
  interval boundaries; what it holds back is taken out of the field's ground truth.
  :func:`shared_clock_origin` gives the daemon the runner's simulated time
  (``schedule.time_origin_real`` / ``time_origin_sim``).

Typical use (see tests/daemon/test_daemon_e2e.py)::

    broker = MosquittoBroker(tmp / "broker"); broker.start()
    collector = UplinkCollector(broker)
    emulator = Im871aEmulator(str(tmp / "ttyEMU0")); emulator.start()
    files = gateway_files(tmp / "gw", broker_url=broker.url, radio_port=emulator.path,
                          keys_text=field.keys_text(), time_scale=720.0, ...)
    daemon = DaemonProcess(files); daemon.start()
    wait_configured(emulator, daemon); collector.wait_online(GATEWAY, daemon=daemon)
    ...
    daemon.stop(); collector.close(); emulator.close(); broker.kill()
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from radio.sim.field import Field, Transmission
from tests.mqtt_broker import HOST, MosquittoBroker

DAEMON = Path(sys.executable).parent / "concentratord"
GATEWAY = "gw-e2e"
PREFIX = "concentratord"
# Test-sized uplink settings: quick reconnects, a fast backlog drain.
UPLINK_DEFAULTS: dict[str, object] = {
    "reconnect_min_delay": 0.05,
    "reconnect_max_delay": 0.5,
    "connect_timeout": 5.0,
    "keepalive": 10,
    "backlog_rate": 500.0,
}
_SOCKET_MAX = 100  # sun_path is 108 bytes


class DaemonDiedError(RuntimeError):
    """The daemon exited while a test waited for it."""


# -- configuration ---------------------------------------------------------------------


@dataclass(frozen=True)
class GatewayFiles:
    """Where one gateway's files are (all under ``root``, the socket possibly in /tmp)."""

    root: Path
    config: Path
    keys: Path
    state_dir: Path
    store: Path
    socket: Path
    stderr: Path


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string for anything a test writes
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def _table(name: str, values: Mapping[str, object]) -> str:
    lines = [f"[{name}]"] + [f"{k} = {_toml(v)}" for k, v in values.items() if v is not None]
    return "\n".join(lines) + "\n"


def gateway_files(
    root: Path,
    *,
    broker_url: str,
    radio_port: str,
    keys_text: str,
    gateway: str = GATEWAY,
    module: str = "im871a",
    mode: str = "c1",
    time_scale: float = 1.0,
    time_origin_real: float | None = None,
    time_origin_sim: float | None = None,
    priority_meters: Sequence[str] = (),
    hourly: bool = True,
    daily: bool = True,
    uplink: Mapping[str, object] | None = None,
    storage: Mapping[str, object] | None = None,
    clock: Mapping[str, object] | None = None,
    extra: str = "",
) -> GatewayFiles:
    """Write a daemon configuration (and its keys file, mode 0600) under ``root``.

    ``uplink`` overrides/extends :data:`UPLINK_DEFAULTS` (e.g. ``{"codec": "compact"}``);
    ``storage`` adds ``[storage]`` keys (e.g. ``{"max_bytes": 1 << 20}``); ``clock`` replaces
    ``[clock]`` (default: ``source = "trusted"``: simulated time, and a test machine's own
    synchronisation is no business of the test's); ``extra`` is appended verbatim.
    """
    root.mkdir(parents=True, exist_ok=True)
    state_dir = root / "state"
    state_dir.mkdir(exist_ok=True)
    socket = state_dir / "control.sock"
    if len(str(socket)) > _SOCKET_MAX:
        socket_dir = tempfile.mkdtemp(prefix="cd-sock-")
        atexit.register(shutil.rmtree, socket_dir, ignore_errors=True)
        socket = Path(socket_dir) / "control.sock"
    keys = root / "keys.txt"
    keys.write_text(keys_text)
    os.chmod(keys, 0o600)
    files = GatewayFiles(
        root=root,
        config=root / "concentratord.toml",
        keys=keys,
        state_dir=state_dir,
        store=state_dir / "store.sqlite",
        socket=socket,
        stderr=root / "daemon.stderr",
    )
    schedule: dict[str, object] = {
        "priority_meters": list(priority_meters),
        "hourly": hourly,
        "daily": daily,
        "time_scale": float(time_scale),
        "time_origin_real": time_origin_real,
        "time_origin_sim": time_origin_sim,
    }
    text = (
        "# Written by tests/daemon_harness.py\n"
        + _table("gateway", {"id": gateway, "profile": "concentrator", "state_dir": str(state_dir)})
        + _table("radio", {"module": module, "port": radio_port, "mode": mode})
        + _table("keys", {"file": str(keys)})
        + _table("schedule", schedule)
        + _table("clock", dict(clock or {"source": "trusted"}))
        + _table("uplink", {"broker": broker_url, **UPLINK_DEFAULTS, **(uplink or {})})
        + _table("storage", {"path": str(files.store), **(storage or {})})
        + _table("control", {"socket": str(socket)})
        + f"[access]\nuser = {{ users = [{os.getuid()}] }}\n"  # the test's user may read
        + extra
    )
    files.config.write_text(text)
    os.chmod(files.config, 0o640)
    return files


class FieldFeed:
    """A field as a runner's source, gated (see the module docstring).

    ``guard_s`` (simulated seconds): a transmission starting within ``guard_s`` before a
    boundary of its meter's period (``periods[meter_id]``, else ``period_s``; boundaries
    are multiples of the period in UTC, ``epoch + t``), or within ``guard_after_s`` after
    one (default: ``guard_s``), is held back, as if lost on the air, so that no telegram's
    reception latency times the time scale carries it across a boundary. Held-back
    telegrams are discarded from ``field.truth``.
    """

    def __init__(
        self,
        field: Field,
        *,
        guard_s: float = 0.0,
        guard_after_s: float | None = None,
        period_s: float = 3600.0,
        periods: Mapping[str, float] | None = None,
    ) -> None:
        self.field = field
        self.guard_s = guard_s
        self.guard_after_s = guard_s if guard_after_s is None else guard_after_s
        self.period_s = period_s
        self.periods = dict(periods or {})
        self.held_back = 0
        self._armed = threading.Event()

    def arm(self) -> None:
        """From now on transmissions go to the runner."""
        self._armed.set()

    def in_guard(self, meter_id: str, t: float) -> bool:
        """Whether field time ``t`` is within the guard band of one of the meter's boundaries."""
        period = self.periods.get(meter_id, self.period_s)
        phase = (self.field.config.epoch + t) % period
        return phase < self.guard_after_s or phase > period - self.guard_s

    def events_until(self, t_sim: float) -> list[Transmission]:
        """The field's transmissions, less those held back (forgotten by the truth log)."""
        out = []
        armed = self._armed.is_set()
        for tx in self.field.events_until(t_sim):
            if tx.lost or (armed and not self.in_guard(tx.meter_id, tx.t)):
                out.append(tx)
            else:
                self.held_back += 1
                self.field.truth.discard(tx)
        return out

    def next_time(self) -> float | None:
        """When the field's next transmission starts."""
        return self.field.next_time()


class ClockOrigin(TypedDict):
    """``gateway_files`` keywords of a shared simulated time."""

    time_origin_real: float
    time_origin_sim: float


def shared_clock_origin(runner_clock_at_zero: float, epoch: float) -> ClockOrigin:
    """``gateway_files`` keywords that make the daemon's clock the field's: at real time
    ``runner.clock_at(0.0)`` (clock ``time.time``) the daemon reads ``field.config.epoch``."""
    return {"time_origin_real": runner_clock_at_zero, "time_origin_sim": epoch}


# -- the daemon process ----------------------------------------------------------------


class DaemonProcess:
    """``concentratord run --config FILE`` as a subprocess; stderr to ``files.stderr``."""

    def __init__(
        self,
        files: GatewayFiles,
        *,
        status: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """``env``: variables added to the daemon's environment (e.g. ``NOTIFY_SOCKET``)."""
        self.files = files
        self.status = status
        self.env = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The process id (the daemon must have been started)."""
        assert self.proc is not None, "daemon not started"
        return self.proc.pid

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit status once it has exited."""
        return None if self.proc is None else self.proc.poll()

    def start(self) -> None:
        """Start the daemon (again, after a stop or kill: same files, same store)."""
        if self.running:
            raise RuntimeError("daemon already running")
        if not DAEMON.exists():
            raise RuntimeError(f"{DAEMON} not found: install the package into the venv")
        args = [str(DAEMON), "run", "--config", str(self.files.config)]
        if self.status:
            args.append("--status")
        with open(self.files.stderr, "ab") as err:
            err.write(f"--- start {time.strftime('%H:%M:%S')} ---\n".encode())
            err.flush()
            self.proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env={**os.environ, **self.env} if self.env else None,
            )

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait; the exit status (0 is a clean stop)."""
        return self._end(signal.SIGTERM, timeout)

    def kill(self, timeout: float = 10.0) -> int:
        """SIGKILL and wait (a power cut, as far as the daemon can tell)."""
        return self._end(signal.SIGKILL, timeout)

    def _end(self, sig: signal.Signals, timeout: float) -> int:
        proc = self.proc
        if proc is None:
            raise RuntimeError("daemon not started")
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
                raise RuntimeError(
                    f"daemon ignored {sig.name} for {timeout} s\n{self.stderr_text()}"
                ) from None
        return proc.returncode

    def control(self, command: str, args: Mapping[str, Any] | None = None) -> Any:
        """One command over the control socket (as ``concentratorctl --json``): its result;
        ``concentratord.ctl.ControlError`` when refused."""
        from concentratord.ctl import request

        return request(str(self.files.socket), command, dict(args or {}))

    def stderr_text(self, tail: int = 8000) -> str:
        """The daemon's stderr so far (the last ``tail`` characters)."""
        path = self.files.stderr
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    def check_alive(self) -> None:
        """Raise :class:`DaemonDiedError` (with its stderr) if the daemon has exited."""
        if self.proc is not None and self.proc.poll() is not None:
            raise DaemonDiedError(
                f"daemon exited with {self.proc.returncode}:\n{self.stderr_text()}"
            )

    def __enter__(self) -> DaemonProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.running:
            self.kill()


def close_all(*steps: Callable[[], object]) -> None:
    """Run every clean-up step, even after one fails (a daemon that does not stop must
    not leave the broker and the emulator behind); then raise the first failure."""
    failure: BaseException | None = None
    for step in steps:
        try:
            step()
        except BaseException as exc:  # re-raised below, once the rest ran
            failure = failure or exc
    if failure is not None:
        raise failure


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    daemon: DaemonProcess | None = None,
    interval: float = 0.02,
) -> None:
    """Poll ``condition`` until true; TimeoutError naming ``what`` (and the daemon's stderr)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if daemon is not None:
            daemon.check_alive()
        if time.monotonic() > deadline:
            detail = f"\n--- daemon stderr ---\n{daemon.stderr_text()}" if daemon else ""
            raise TimeoutError(f"{what}: not within {timeout} s{detail}")
        time.sleep(interval)


def wait_configured(emulator: Any, daemon: DaemonProcess, timeout: float = 20.0) -> None:
    """Wait until the daemon has configured the emulated module (``emulator.mode`` set)."""
    wait_until(lambda: emulator.mode is not None, timeout, "module configured", daemon)


# -- the broker side -------------------------------------------------------------------


@dataclass(frozen=True)
class Uplink:
    """One message seen on the broker. ``doc`` is the JSON payload (None if not JSON)."""

    topic: str
    doc: dict[str, Any] | None
    retain: bool
    received: float  # time.monotonic() at arrival
    correlation: bytes | None

    def kind(self, gateway: str = GATEWAY, prefix: str = PREFIX) -> str:
        """The topic below the gateway: ``state``, ``event/readings``, ``reply/get_status``."""
        base = f"{prefix}/gateway/{gateway}/"
        return self.topic[len(base) :] if self.topic.startswith(base) else self.topic


class UplinkCollector:
    """A head-end: an MQTT 5 client that records every uplink message and sends commands.

    Subscribes (QoS 1) to ``{prefix}/gateway/#`` and to its own reply topic
    ``concentratord/headend/test-replies/#``; resubscribes after a broker restart (paho
    reconnects).
    ``persistent``: a session that outlives the connection (and, with
    :func:`persistent_broker`, a broker restart), so that nothing published while the
    collector reconnects is missed: the broker queues it.
    """

    REPLIES = "concentratord/headend/test-replies"

    def __init__(
        self,
        broker: MosquittoBroker,
        *,
        prefix: str = PREFIX,
        client_id: str = "test-headend",
        decode: Callable[[bytes], dict[str, Any]] | None = None,
        persistent: bool = False,
    ) -> None:
        self.prefix = prefix
        self._decode = decode
        self._messages: list[Uplink] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._commands = 0
        self.client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        topics = [(f"{prefix}/gateway/#", 1), (f"{self.REPLIES}/#", 1)]
        self._topics = topics
        self.client.on_connect = self._on_connect
        self.client.reconnect_delay_set(1, 2)
        connect_props = None
        if persistent:
            connect_props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            connect_props.SessionExpiryInterval = 3600
        self.client.connect(
            HOST, broker.port, keepalive=30, clean_start=not persistent, properties=connect_props
        )
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("collector got no SUBACK")

    def _on_connect(self, *_: Any) -> None:
        # Subscribe on every connect: paho reconnects by itself after a broker restart.
        self.client.subscribe(self._topics)

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        doc: dict[str, Any] | None
        try:
            payload = bytes(msg.payload)
            value = self._decode(payload) if self._decode else json.loads(payload)
            doc = value if isinstance(value, dict) else None
        except ValueError:
            doc = None
        props = getattr(msg, "properties", None)
        correlation = getattr(props, "CorrelationData", None)
        message = Uplink(msg.topic, doc, bool(msg.retain), time.monotonic(), correlation)
        with self._cond:
            self._messages.append(message)
            self._cond.notify_all()

    @property
    def messages(self) -> list[Uplink]:
        """Every message so far, in arrival order (a copy)."""
        with self._cond:
            return list(self._messages)

    def docs(self, kind: str, gateway: str = GATEWAY) -> list[dict[str, Any]]:
        """The JSON documents on ``{prefix}/gateway/{gateway}/{kind}``, in arrival order."""
        topic = f"{self.prefix}/gateway/{gateway}/{kind}"
        return [m.doc for m in self.messages if m.topic == topic and m.doc is not None]

    def wait_for(
        self,
        match: Callable[[Uplink], bool],
        timeout: float = 10.0,
        daemon: DaemonProcess | None = None,
        what: str = "message",
    ) -> Uplink:
        """The first message (ever received) matching ``match``, waiting for it."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                for m in self._messages:
                    if match(m):
                        return m
                if daemon is not None:
                    daemon.check_alive()
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(m.topic, (m.doc or {}).get("type")) for m in self._messages[-20:]]
                    detail = f"\n--- daemon stderr ---\n{daemon.stderr_text()}" if daemon else ""
                    raise TimeoutError(f"no {what} within {timeout} s; last: {seen}{detail}")
                self._cond.wait(min(left, 0.1))

    def wait_online(
        self,
        gateway: str = GATEWAY,
        *,
        timeout: float = 20.0,
        daemon: DaemonProcess | None = None,
        after: float | None = None,
    ) -> dict[str, Any]:
        """The gateway's ``online`` state document (received after monotonic ``after``)."""
        topic = f"{self.prefix}/gateway/{gateway}/state"
        since = -1.0 if after is None else after
        message = self.wait_for(
            lambda m: (
                m.topic == topic
                and m.received >= since
                and m.doc is not None
                and m.doc.get("state") == "online"
            ),
            timeout,
            daemon,
            "online state",
        )
        assert message.doc is not None
        return message.doc

    def command(
        self,
        name: str,
        payload: Mapping[str, Any] | bytes,
        *,
        gateway: str = GATEWAY,
        timeout: float = 10.0,
        daemon: DaemonProcess | None = None,
    ) -> dict[str, Any]:
        """Publish a command to ``{prefix}/gateway/{gateway}/command/{name}`` with an MQTT 5
        response topic and correlation data; return the reply document.

        ``payload`` is a mapping (sent as JSON, e.g. ``{"gateway": GATEWAY, "args": {}}``)
        or raw bytes (malformed commands).
        """
        self._commands += 1
        correlation = f"c{self._commands}".encode()
        reply_topic = f"{self.REPLIES}/{self._commands}"
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = reply_topic
        props.CorrelationData = correlation
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        topic = f"{self.prefix}/gateway/{gateway}/command/{name}"
        self.client.publish(topic, data, qos=1, properties=props).wait_for_publish(10)
        message = self.wait_for(
            lambda m: m.topic == reply_topic, timeout, daemon, f"reply to {name}"
        )
        assert message.doc is not None, f"reply to {name} is not JSON"
        assert message.correlation == correlation, "reply without the correlation data"
        return message.doc

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


def iso(when: float) -> str:
    """An epoch time as the uplink prints it (whole seconds)."""
    return datetime.fromtimestamp(when, UTC).isoformat().replace("+00:00", "Z")


def epoch_of(text: str) -> float:
    """An uplink time back to epoch seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def persistent_broker(workdir: Path) -> MosquittoBroker:
    """A :class:`MosquittoBroker` that keeps sessions and queued messages across a restart
    (written to ``workdir`` on a clean stop, read at start) and queues without limit."""
    broker = MosquittoBroker(workdir)
    text = broker.config.read_text().replace("persistence false\n", "")
    text += f"persistence true\npersistence_location {workdir}/\nmax_queued_messages 0\n"
    broker.config.write_text(text)
    return broker


def readings_by_interval(
    docs: Iterable[Mapping[str, Any]],
) -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    """Readings batches merged per (interval kind, interval_end): meter id -> row.

    Duplicates (a batch published twice) must carry the same message id: raises
    AssertionError if one meter's row appears in two different messages of an interval.
    """
    out: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    owner: dict[tuple[str, str, str], int] = {}
    for doc in docs:
        key = (str(doc["interval"]), str(doc["interval_end"]))
        rows = out.setdefault(key, {})
        for row in doc["readings"]:
            where = (*key, str(row["id"]))
            first = owner.setdefault(where, int(doc["message_id"]))
            assert first == doc["message_id"], (
                f"meter {row['id']} {key} in messages {first} and {doc['message_id']}"
            )
            rows[str(row["id"])] = row
    return out


@dataclass
class SimulatedGateway:
    """A running daemon between a simulated field (on an emulated iM871A) and a broker."""

    broker: MosquittoBroker
    collector: UplinkCollector
    emulator: Any  # radio.sim.imst.Im871aEmulator
    runner: Any  # radio.sim.runner.FieldRunner
    files: GatewayFiles
    daemon: DaemonProcess


@contextlib.contextmanager
def simulated_gateway(
    tmp: Path,
    source: Any,
    *,
    scale: float,
    keys_text: str,
    epoch: float,
    edit: Callable[[str], str] | None = None,
    env: Mapping[str, str] | None = None,
    **files: Any,
) -> Iterator[SimulatedGateway]:
    """Broker, collector, emulator, ``source`` (a field, or a feed over one) running at
    ``scale`` from ``epoch``, and the daemon (its configuration from :func:`gateway_files`
    with ``files``, then ``edit``ed), ready: module configured, online, control socket up.
    Everything is closed afterwards, whatever fails."""
    from radio.sim.imst import Im871aEmulator
    from radio.sim.runner import FieldRunner

    with contextlib.ExitStack() as stack:  # closes what was started, in reverse order
        broker = MosquittoBroker(tmp / "broker")
        broker.start()
        stack.callback(broker.stop)
        collector = UplinkCollector(broker)
        stack.callback(collector.close)
        emulator = Im871aEmulator(str(tmp / "ttyEMU0"))
        emulator.start()
        runner = FieldRunner(source, emulator, time.time, speed=scale)
        runner.start()
        stack.callback(runner.stop)
        stack.callback(emulator.close)
        stack.callback(runner.request_stop)
        config = gateway_files(
            tmp / "gw",
            broker_url=broker.url,
            radio_port=emulator.path,
            keys_text=keys_text,
            time_scale=scale,
            **shared_clock_origin(runner.clock_at(0.0), epoch),
            **files,
        )
        if edit is not None:
            config.config.write_text(edit(config.config.read_text()))
        daemon = DaemonProcess(config, env=env)
        stack.callback(lambda: daemon.stop() if daemon.proc is not None else None)
        daemon.start()
        wait_configured(emulator, daemon)
        collector.wait_online(GATEWAY, daemon=daemon)
        wait_until(config.socket.exists, 20.0, "the control socket", daemon)
        yield SimulatedGateway(broker, collector, emulator, runner, config, daemon)
