"""The real daemon (``concentratord run``) under a 30,000-meter field, and after an outage.

Three scenarios share this module (``python -m bench field alarm_latency drain``):

**field** (goals: under 15 % of one core, under 150 MB peak RSS). A fixed-network field of
30,000 meters (``FieldConfig(collisions=False)``, the default kind mix: about 295
telegrams/s, C1 and T1) is pre-generated in this process before anything is timed, then
replayed in real time (time scale 1) through the iM871A emulator on a real pty to the daemon,
which publishes to a real Mosquitto on the loopback. The first ``WARMUP_S`` seconds are not
measured (every meter is heard once: the meter table fills and compact-frame layouts are
learned); the daemon's CPU share is its ``utime + stime`` (/proc/PID/stat) over the next
``MEASURE_S`` seconds divided by the wall time, and its peak RSS is ``VmHWM``
(/proc/PID/status) at the end. The gateway clock is placed at five past an hour so that no
hourly snapshot falls in the run (one snapshot an hour is a separate, short burst).

**alarm_latency** (goal: p99 under 50 ms). In the same run, ``ALARMS`` water meters get a
``leak`` alarm raised in the simulated field during the measured window; the first telegram
each such meter sends afterwards carries it. What is measured, per alarm: from the moment
the emulator's ``write()`` of that telegram to the pty master returned (its last byte is in
the pty) to the moment a paho MQTT 5 subscriber in this process, subscribed with QoS 1 to
the alarm topic on the same loopback broker, has the alarm event in its ``on_message``. The
daemon's path in between: framing, decryption, decoding, the durable (fsync'd) outbox
insert, the publisher's QoS 1 PUBLISH; the broker forwards to the subscriber as it sends the
PUBACK, so the figure is the PUBACK-equivalent path plus one loopback hop (an upper bound).
Both timestamps come from ``time.monotonic()`` in this process.

**drain** (goal: under 60 s). The daemon's store is filled before the daemon starts with
7 days x 24 hourly batches of 30,000 Kamstrup water meters, built by the daemon's own
``concentratord.documents.batch_items`` (``uplink.batch_meters`` meters per batch, 10,080
messages at 500) and enqueued with ``Store.enqueue`` (not timed). Then the broker is up, the
daemon starts (an idle emulated radio) and the time is taken from the daemon's start to the
moment its control socket (``queue``, as ``concentratorctl --json queue``) reports no row
pending; publishing starts about 1 s after start. The drain runs at the configured
``uplink.backlog_rate`` (the default, unless ``DRAIN_RATE`` is set) with the default
``json`` codec; nothing subscribes, so the broker discards the messages after its PUBACK.

``python -m bench.daemon_field [field|alarm_latency|drain]`` prints the figures.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "results" / "tmp" / "daemon"
BIN = Path(sys.executable).parent
METERS = 30_000
WARMUP_S = 100.0
MEASURE_S = 90.0
ALARMS = 150
GOAL_CPU = 0.15
GOAL_RSS_MB = 150.0
GOAL_P99_MS = 50.0
GOAL_DRAIN_S = 60.0
DRAIN_DAYS = 7
DRAIN_RATE: float | None = None  # None: the configured default uplink.backlog_rate
HOUR = 3600.0
WEB_PORT = 18_080  # loopback: the web API's answer for the full list is timed
WEB_TOKEN = "bench-token-0123456789abcdef"
API_CALLS = 5
# 2027-01-01T00:05:00Z: a gateway clock at five past an hour keeps snapshots out of the run.
SIM_ORIGIN = 1_798_761_900.0


def _config(
    workdir: Path, port: str, broker_url: str, keys: Path, *, backlog_rate: float | None = None
) -> Path:
    """A daemon configuration for the largest profile, state under ``workdir``."""
    rate = "" if backlog_rate is None else f"backlog_rate = {backlog_rate}\n"
    text = f"""
[gateway]
id = "gw-bench"
profile = "concentrator-1m"
state_dir = "{workdir}/state"

[radio]
module = "im871a"
port = "{port}"
mode = "c1t1"

[keys]
file = "{keys}"

[schedule]
time_scale = 1.0
time_origin_real = {time.time()}
time_origin_sim = {SIM_ORIGIN}

[clock]
source = "trusted"

[uplink]
broker = "{broker_url}"
{rate}
[storage]
path = "{workdir}/state/store.sqlite"
max_bytes = 4294967296

[control]
socket = "{workdir}/state/control.sock"

[access.user]
users = [{os.getuid()}]

[web]
listen = "127.0.0.1:{WEB_PORT}"

[[web.token]]
name = "bench"
token = "{WEB_TOKEN}"
"""
    path = workdir / "concentratord.toml"
    path.write_text(text)
    return path


def _cpu_s(pid: int) -> float:
    """utime + stime of ``pid`` in seconds (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status_kb(pid: int, key: str) -> int:
    """A ``kB`` figure of /proc/PID/status (``VmHWM``: peak RSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def _start_daemon(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as err:
        return subprocess.Popen(
            [str(BIN / "concentratord"), "run", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=ROOT,
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _queue(socket_path: Path) -> dict[str, Any] | None:
    """The daemon's ``queue`` answer (as ``concentratorctl --json queue``), None if not up."""
    from concentratord.ctl import ControlError, request

    try:
        result = request(str(socket_path), "queue", {})
    except ControlError:
        return None
    return result if isinstance(result, dict) else None


def _wait(predicate: Any, timeout: float, what: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise RuntimeError(f"the daemon exited ({proc.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout} s")
        time.sleep(0.05)


# ---------------------------------------------------------------------------- field run

_FIELD_RESULT: dict[str, Any] | None = None


def _field_run() -> dict[str, Any]:
    """One run of the daemon under the field, with alarms; the figures of both scenarios."""
    from radio.sim.field import Field, FieldConfig
    from radio.sim.imst import Im871aEmulator
    from tests.mqtt_broker import MosquittoBroker, Subscriber

    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "state").mkdir(parents=True)
    field = Field(FieldConfig(meters=METERS, collisions=False, seed=3, truth_depth=0))
    keys = WORK / "keys.txt"
    keys.write_text(field.keys_text())
    keys.chmod(0o600)
    # Pre-generation: the warm-up as it comes, then the measured window with an alarm raised
    # on a fresh water meter every step; its next telegram is the one whose latency counts.
    plan = field.pregenerate(WARMUP_S)
    water = [m.meter_id for m in field.meters if m.kind.name == "water"]
    chosen = random.Random(5).sample(water, ALARMS)
    waiting: dict[str, float] = {}
    step = MEASURE_S / ALARMS
    alarm_index: dict[int, str] = {}
    t = WARMUP_S
    for meter_id in chosen:
        t += step
        for tx in field.events_until(t):
            if tx.meter_id in waiting and not tx.lost:
                alarm_index[len(plan)] = tx.meter_id
                del waiting[tx.meter_id]
            plan.append(tx)
        field.inject_alarm(meter_id, "leak")
        waiting[meter_id] = t
    for tx in field.events_until(WARMUP_S + MEASURE_S):
        if tx.meter_id in waiting and not tx.lost:
            alarm_index[len(plan)] = tx.meter_id
            del waiting[tx.meter_id]
        plan.append(tx)

    broker = MosquittoBroker(WORK / "broker")
    broker.start()
    emulator = Im871aEmulator(str(WORK / "ttyEMU0"))
    emulator.start()
    received: dict[str, float] = {}
    subscriber = Subscriber(broker, ["concentratord/gateway/+/event/alarm"])

    def on_message(_client: Any, _userdata: Any, message: Any) -> None:
        now = time.monotonic()  # first thing: the receive time, before any parsing
        doc = json.loads(message.payload)
        if isinstance(doc.get("id"), str):
            received.setdefault(doc["id"], now)

    subscriber.client.on_message = on_message
    config = _config(WORK, str(WORK / "ttyEMU0"), broker.url, keys)
    daemon = _start_daemon(config, WORK / "daemon.log")
    written: dict[str, float] = {}
    try:
        _wait(lambda: emulator.mode is not None, 60, "radio configuration", daemon)
        _wait(lambda: _queue(WORK / "state" / "control.sock") is not None, 60, "control", daemon)
        start = time.monotonic()
        cpu0 = wall0 = 0.0
        measuring = False
        for n, tx in enumerate(plan):
            if not measuring and tx.t >= WARMUP_S:
                cpu0, wall0, measuring = _cpu_s(daemon.pid), time.monotonic(), True
            delay = start + tx.t - time.monotonic()
            if delay > 0.001:
                time.sleep(delay)
            if tx.lost:
                continue
            emulator.deliver(tx.frame, tx.rssi_dbm, tx.link_mode)
            alarm_meter = alarm_index.get(n)
            if alarm_meter is not None:
                written[alarm_meter] = time.monotonic()
        delay = start + WARMUP_S + MEASURE_S - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        cpu = _cpu_s(daemon.pid) - cpu0
        wall = time.monotonic() - wall0
        hwm_kb = _status_kb(daemon.pid, "VmHWM")
        api_ms, api_bytes, api_meters = _time_api()
        hwm_after_api_kb = _status_kb(daemon.pid, "VmHWM")
        time.sleep(1.0)  # the last alarms' events are on their way
        queue = _queue(WORK / "state" / "control.sock") or {}
    finally:
        _stop(daemon)
        emulator.close()
        subscriber.close()
        broker.kill()
    latencies = sorted((received[m] - written[m]) * 1000 for m in written if m in received)
    lines = (WORK / "daemon.log").read_text(errors="replace").splitlines()
    errors = [line for line in lines if " ERROR " in line or "Traceback" in line]
    result = {
        "meters": METERS,
        "telegrams": sum(1 for tx in plan if not tx.lost),
        "telegrams_per_s": round(sum(1 for tx in plan if not tx.lost) / plan[-1].t, 1),
        "warmup_s": WARMUP_S,
        "measured_s": round(wall, 1),
        "cpu_s": round(cpu, 2),
        "cpu_share_of_one_core": round(cpu / wall, 4),
        "peak_rss_mb": round(hwm_kb / 1024, 1),
        "api_list_ms": api_ms,
        "api_list_bytes": api_bytes,
        "api_list_meters": api_meters,
        "peak_rss_after_api_mb": round(hwm_after_api_kb / 1024, 1),
        "alarms_written": len(written),
        "alarms_received": len(latencies),
        "latency_ms": latencies,
        "queue_pending_at_end": queue.get("pending_total"),
        "daemon_errors": errors[:5],
    }
    shutil.rmtree(WORK, ignore_errors=True)
    return result


def _time_api() -> tuple[list[float], int, int]:
    """``GET /api/v1/meters`` (every meter) :data:`API_CALLS` times: milliseconds each, the
    body's size and its meter count."""
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{WEB_PORT}/api/v1/meters",
        headers={"Authorization": f"Bearer {WEB_TOKEN}"},
    )
    times, body = [], b""
    for _ in range(API_CALLS):
        t0 = time.monotonic()
        with urllib.request.urlopen(request, timeout=60) as response:
            body = response.read()
        times.append(round((time.monotonic() - t0) * 1000, 1))
    return times, len(body), len(json.loads(body)["meters"])


def _field_cached() -> dict[str, Any]:
    global _FIELD_RESULT
    if _FIELD_RESULT is None:
        _FIELD_RESULT = _field_run()
    return _FIELD_RESULT


def _percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def field_main() -> dict[str, Any]:
    """Scenario ``field``: the daemon's CPU share and peak RSS under the 30,000-meter field."""
    run = _field_cached()
    print(
        f"field: {run['meters']} meters, {run['telegrams_per_s']} telegrams/s: daemon CPU "
        f"{100 * run['cpu_share_of_one_core']:.1f}% of one core over {run['measured_s']} s "
        f"(goal < {100 * GOAL_CPU:.0f}%), peak RSS {run['peak_rss_mb']} MB "
        f"(goal < {GOAL_RSS_MB:.0f} MB); web API full list of {run['api_list_meters']} meters "
        f"({run['api_list_bytes'] / 1e6:.1f} MB): median {statistics.median(run['api_list_ms'])} ms"
        f" of {run['api_list_ms']}, peak RSS after it {run['peak_rss_after_api_mb']} MB",
        flush=True,
    )
    out = {k: v for k, v in run.items() if k != "latency_ms"}
    out |= {"goal_cpu_share": GOAL_CPU, "goal_peak_rss_mb": GOAL_RSS_MB}
    return out


def alarm_latency_main() -> dict[str, Any]:
    """Scenario ``alarm_latency``: pty write of an alarm telegram to the subscriber, p50/p99."""
    run = _field_cached()
    lat: list[float] = run["latency_ms"]
    if not lat:
        raise RuntimeError(f"no alarm event arrived: {run['daemon_errors']}")
    p50, p99 = _percentile(lat, 50), _percentile(lat, 99)
    print(
        f"alarm_latency: {len(lat)} alarms under {run['telegrams_per_s']} telegrams/s: "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {lat[-1]:.1f} ms (goal p99 < {GOAL_P99_MS} ms)",
        flush=True,
    )
    return {
        "alarms_written": run["alarms_written"],
        "alarms_received": run["alarms_received"],
        "telegrams_per_s": run["telegrams_per_s"],
        "p50_ms": round(p50, 2),
        "p99_ms": round(p99, 2),
        "max_ms": round(lat[-1], 2),
        "goal_p99_ms": GOAL_P99_MS,
        "measures": "emulator write() of the alarm telegram returned -> QoS 1 subscriber "
        "on_message on the loopback broker",
    }


# -------------------------------------------------------------------------------- drain


async def _prefill(path: Path, batch_meters: int) -> int:
    """7 days of hourly batches for 30,000 water meters, in the daemon's own batch format."""
    from concentratord.config.model import DEFAULT_TENANT
    from concentratord.documents import batch_items
    from concentratord.pipeline import Reading
    from concentratord.store import Store

    rng = random.Random(11)
    ids = sorted(f"{i:08d}" for i in rng.sample(range(10_000_000, 99_999_999), METERS))
    litres = [rng.randrange(0, 2_000_000) for _ in ids]
    store = await Store.open(path, max_bytes=4 * 1024**3, backfill_s=30 * 86_400)
    count = 0
    try:
        for hour in range(1, DRAIN_DAYS * 24 + 1):
            end = SIM_ORIGIN - 300 - (DRAIN_DAYS * 24 - hour + 1) * HOUR
            readings = []
            for m, meter_id in enumerate(ids):
                litres[m] += rng.choice((0, 0, 0, 1, 2, 5, 10, 20, 35))
                fields = {
                    "id": meter_id,
                    "manufacturer": "KAM",
                    "media": "cold water",
                    "meter": "kamwater",
                    "total_m3": litres[m] / 1000,
                    "target_m3": (litres[m] - litres[m] % 5000) / 1000,
                    "flow_temperature_c": rng.randrange(6, 14),
                    "min_external_temperature_last_month_c": 14,
                    "status": "OK",
                }
                heard = end - rng.uniform(1.0, 96.0)
                readings.append(Reading(meter_id, DEFAULT_TENANT, heard, fields, -80.0, "c1"))
            items = batch_items("gw-bench", DEFAULT_TENANT, "hourly", end, readings,
                                batch_meters, end + 10)  # fmt: skip
            await store.enqueue(items)
            count += len(items)
    finally:
        await store.close()
    return count


def drain_main() -> dict[str, Any]:
    """Scenario ``drain``: a 7-day backlog through the daemon to Mosquitto, timed."""
    from concentratord.config import load_config
    from radio.sim.imst import Im871aEmulator
    from tests.mqtt_broker import MosquittoBroker

    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "state").mkdir(parents=True)
    keys = WORK / "keys.txt"
    keys.write_text("")
    keys.chmod(0o600)
    broker = MosquittoBroker(WORK / "broker")
    emulator = Im871aEmulator(str(WORK / "ttyEMU0"))
    config = _config(WORK, str(WORK / "ttyEMU0"), "mqtt://127.0.0.1:1", keys,
                     backlog_rate=DRAIN_RATE)  # fmt: skip
    uplink = load_config(config).tenants[0].uplink
    fill = time.perf_counter()
    messages = asyncio.run(_prefill(WORK / "state" / "store.sqlite", uplink.batch_meters))
    fill = time.perf_counter() - fill
    broker.start()
    emulator.start()
    config = _config(WORK, str(WORK / "ttyEMU0"), broker.url, keys, backlog_rate=DRAIN_RATE)
    socket_path = WORK / "state" / "control.sock"
    start = time.monotonic()
    daemon = _start_daemon(config, WORK / "daemon.log")
    try:
        cpu0 = 0.0
        while True:
            queue = _queue(socket_path)
            if queue is not None and queue.get("pending_total") == 0:
                break
            if daemon.poll() is not None:
                raise RuntimeError(f"the daemon exited ({daemon.returncode}); see daemon.log")
            if time.monotonic() - start > 1200:
                raise TimeoutError(f"backlog not drained after 1200 s: {queue}")
            time.sleep(0.25)
        elapsed = time.monotonic() - start
        cpu0 = _cpu_s(daemon.pid)
        hwm_kb = _status_kb(daemon.pid, "VmHWM")
    finally:
        _stop(daemon)
        emulator.close()
        broker.kill()
    shutil.rmtree(WORK, ignore_errors=True)
    result = {
        "meters": METERS,
        "days": DRAIN_DAYS,
        "messages": messages,
        "batch_meters": uplink.batch_meters,
        "backlog_rate": uplink.backlog_rate,
        "codec": uplink.codec,
        "fill_s": round(fill, 1),
        "drain_s": round(elapsed, 1),
        "messages_per_s": round(messages / elapsed, 1),
        "daemon_cpu_s": round(cpu0, 1),
        "peak_rss_mb": round(hwm_kb / 1024, 1),
        "goal_drain_s": GOAL_DRAIN_S,
    }
    print(
        f"drain: {messages} messages ({DRAIN_DAYS} days x 24 h x {METERS} meters, "
        f"{uplink.batch_meters}/batch, {uplink.codec}) at backlog_rate {uplink.backlog_rate}/s: "
        f"{result['drain_s']} s (goal < {GOAL_DRAIN_S:.0f} s), daemon CPU "
        f"{result['daemon_cpu_s']} s, peak RSS {result['peak_rss_mb']} MB",
        flush=True,
    )
    return result


if __name__ == "__main__":
    names = sys.argv[1:] or ["field", "alarm_latency", "drain"]
    scenarios = {"field": field_main, "alarm_latency": alarm_latency_main, "drain": drain_main}
    for name in names:
        print(json.dumps(scenarios[name](), indent=2))
