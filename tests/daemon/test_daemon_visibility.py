"""The radio field as the installer and the head-end see it, against the running daemon
(issue 9): simulated field -> emulated iM871A on a pty -> ``concentratord run`` -> its web
API, its control socket and the MQTT ``visibility`` command on a real Mosquitto.

Ten drive-by Kamstrup water meters (C1 every 16 s) at 20x: a telegram per meter every
0.8 s of real time. Each meter gets its own signal level (a fixed mean, +-2 dB fading) and
its own loss on the air (0 %, 20 % or 50 %, seeded); what reaches the pty is counted here,
per meter, as the truth. One meter is switched off for a while to go silent and back. Two
tenants share the gateway: ``water`` (five meters and the silent one) and ``heat``.
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from concentratord.ctl import ControlError
from radio.sim.field import DEFAULT_EPOCH, Field, FieldConfig, Transmission
from radio.sim.imst import Im871aEmulator
from radio.sim.runner import FieldRunner
from tests.concentratord.web_helpers import chromium, get, screenshot
from tests.daemon_harness import (
    DAEMON,
    GATEWAY,
    UPLINK_DEFAULTS,
    DaemonProcess,
    GatewayFiles,
    UplinkCollector,
    gateway_files,
    shared_clock_origin,
    wait_configured,
    wait_until,
)
from tests.mqtt_broker import MosquittoBroker

SCALE = 20.0
INTERVAL_S = 16.0  # drive-by C1 (radio/sim/field.py)
EPOCH = DEFAULT_EPOCH
LOSS = [0.0, 0.0, 0.0, 0.2, 0.2, 0.2, 0.5, 0.5, 0.5]  # the tenth meter goes silent instead
MEAN_RSSI = [-58.0, -66.0, -74.0, -61.0, -79.0, -88.0, -70.0, -84.0, -93.0, -72.0]
GOOD_RATE = 0.7
SILENT_AFTER = 4
STATS_EVERY_S = 60  # gateway seconds: event/stats every 3 s of real time
OPERATOR = "operator-token-0123456789abcdef"
WATER_TOKEN = "water-token-0123456789abcdef"
MIN_SENT = 90  # telegrams per meter before reception figures are compared
BANDS = ("excellent", "good", "fair", "weak")  # the placement view's signal bands (docs/web.md)


@dataclass
class Truth:
    """What the field sent and what reached the pty, per meter (from the first delivered)."""

    sent: int = 0
    delivered: int = 0
    rssi: list[float] = field(default_factory=list)
    delivered_at: list[float] = field(default_factory=list)  # time.monotonic() at release


class ShapedFeed:
    """The field with each meter's own loss and signal level; counts the truth."""

    def __init__(self, source: Field, meters: list[str]) -> None:
        self.field = source
        self.loss = dict(zip(meters, [*LOSS, 0.0], strict=True))
        self.mean = dict(zip(meters, MEAN_RSSI, strict=True))
        self.truth = {m: Truth() for m in meters}
        self.silenced: set[str] = set()
        self.lock = threading.Lock()
        self._rng = random.Random(99)

    def events_until(self, t_sim: float) -> list[Transmission]:
        out = []
        for tx in self.field.events_until(t_sim):
            with self.lock:
                if tx.meter_id in self.silenced:
                    continue  # switched off: not sent at all
                truth = self.truth[tx.meter_id]
                rssi = round((self.mean[tx.meter_id] + self._rng.gauss(0.0, 2.0)) * 2) / 2
                lost = self._rng.random() < self.loss[tx.meter_id]
                if truth.delivered or not lost:
                    truth.sent += 1  # counted from the first telegram that arrives
                if not lost:
                    truth.delivered += 1
                    truth.rssi.append(rssi)
                    truth.delivered_at.append(time.monotonic())
            out.append(replace(tx, rssi_dbm=rssi, lost=lost, reason="noise" if lost else None))
        return out

    def next_time(self) -> float | None:
        return self.field.next_time()


@dataclass
class Run:
    """The running gateway and its field."""

    feed: ShapedFeed
    daemon: DaemonProcess
    collector: UplinkCollector
    web: str
    meters: list[str]
    water: list[str]
    silent: str
    socket: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(
    files: GatewayFiles,
    run_keys: dict[str, bytes],
    water: list[str],
    heat: list[str],
    *,
    broker: str,
    port: str,
    origin: dict[str, float],
    web_port: int,
    priority: str,
) -> str:
    """Two tenants with their keys, the control socket's superuser, [visibility], [web]."""
    files_root = files.root

    def keys_file(name: str, ids: list[str]) -> str:
        path = files_root / f"{name}.keys"
        path.write_text("".join(f"{i} {run_keys[i].hex().upper()}\n" for i in ids))
        os.chmod(path, 0o600)
        return str(path)

    uplink = "".join(f"{k} = {json.dumps(v)}\n" for k, v in UPLINK_DEFAULTS.items())
    tenants = ""
    for name, ids in (("water", water), ("heat", heat)):
        tenants += (
            f'\n[[tenant]]\nname = "{name}"\nmeters = {json.dumps(ids)}\n'
            f'keys_file = "{keys_file(name, ids)}"\n[tenant.uplink]\nbroker = "{broker}"\n'
            f'prefix = "{name}"\nreply_prefix = "concentratord/headend/"\n{uplink}'
        )
    state = files_root / "state"
    return (
        f'[gateway]\nid = "{GATEWAY}"\nstate_dir = "{state}"\n'
        f'[radio]\nmodule = "im871a"\nport = "{port}"\nmode = "c1"\n'
        f'[schedule]\ntime_scale = {SCALE}\npriority_meters = ["{priority}"]\n'
        f"time_origin_real = {origin['time_origin_real']}\n"
        f"time_origin_sim = {origin['time_origin_sim']}\n"
        f'[clock]\nsource = "trusted"\n'
        f'[storage]\npath = "{files.store}"\n'
        f'[control]\nsocket = "{files.socket}"\n'
        f"[access]\nuser = {{ users = [{os.getuid()}] }}\n"
        f"superuser = {{ users = [{os.getuid()}] }}\n"
        f"[visibility]\ngood_reception_rate = {GOOD_RATE}\nsilent_after = {SILENT_AFTER}\n"
        f"stats_interval = {STATS_EVERY_S}\n"
        f'[web]\nlisten = "127.0.0.1:{web_port}"\n'
        f'[[web.token]]\nname = "operator"\ntoken = "{OPERATOR}"\n'
        f'[[web.token]]\nname = "water-installer"\ntoken = "{WATER_TOKEN}"\ntenant = "water"\n'
        + tenants
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("visibility")
    config = FieldConfig(
        meters=10,
        mode="driveby",
        collisions=False,
        mix={"water": 1.0},
        seed=31,
        epoch=EPOCH,
        sensitivity_dbm=-130.0,
        truth_depth=0,
    )
    source = Field(config)
    meters = sorted(m.meter_id for m in source.meters)
    silent = meters[9]
    water, heat = [*meters[:5], silent], meters[5:9]
    feed = ShapedFeed(source, [*meters[:9], silent])
    broker = MosquittoBroker(tmp / "broker")
    broker.start()
    collector = UplinkCollector(broker, prefix="water", client_id="water-headend")
    emulator = Im871aEmulator(str(tmp / "ttyEMU0"))
    emulator.start()
    runner = FieldRunner(feed, emulator, time.time, speed=SCALE)
    runner.start()
    files = gateway_files(tmp / "gw", broker_url=broker.url, radio_port=emulator.path, keys_text="")
    web_port = _free_port()
    files.config.write_text(
        _config(
            files,
            source.keys(),
            water,
            heat,
            broker=broker.url,
            port=emulator.path,
            origin=dict(shared_clock_origin(runner.clock_at(0.0), EPOCH)),
            web_port=web_port,
            priority=water[1],
        )
    )
    socket_path = files.socket
    daemon = DaemonProcess(files)
    daemon.start()
    try:
        wait_configured(emulator, daemon)
        collector.wait_online(GATEWAY, daemon=daemon)
        web = f"http://127.0.0.1:{web_port}"
        wait_until(lambda: _status(web) == 200, 20.0, "the web server", daemon)
        yield Run(feed, daemon, collector, web, meters, water, silent, socket_path)
    finally:
        runner.request_stop()
        emulator.close()
        runner.stop()
        daemon.stop()
        collector.close()
        broker.stop()


def _status(web: str) -> int:
    try:
        return get(f"{web}/api/v1/meters", OPERATOR)[0]
    except OSError:
        return 0


def _rows(run: Run, token: str = OPERATOR) -> dict[str, dict[str, Any]]:
    status, _, body = get(f"{run.web}/api/v1/meters", token)
    assert status == 200, body
    return {r["id"]: r for r in body["meters"]}


def _wait_for_telegrams(run: Run, count: int) -> None:
    def enough() -> bool:
        with run.feed.lock:
            return min(t.sent for t in run.feed.truth.values()) >= count

    wait_until(enough, 240.0, f"{count} telegrams of every meter", run.daemon)


# -- while the field runs: the tap, silent meters -------------------------------------------


def test_tap_shows_telegrams_within_a_second_while_batches_flow(run: Run) -> None:
    lines: list[tuple[float, dict[str, Any]]] = []
    tap = subprocess.Popen(
        [str(DAEMON.parent / "concentratorctl"), "--socket", str(run.socket), "--json", "tap"],
        stdout=subprocess.PIPE,
        text=True,
    )

    def read() -> None:
        assert tap.stdout is not None
        for line in tap.stdout:
            lines.append((time.monotonic(), json.loads(line)))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    batches_before = len(run.collector.docs("event/readings"))
    time.sleep(17.0)  # 5 minutes and a bit of gateway time: a 5-minute batch falls inside
    tap.terminate()
    tap.wait(10)
    reader.join(5)
    assert len(lines) >= 50, lines[:3]
    latencies = []
    for seen_at, event in lines:
        with run.feed.lock:
            sent = [t for t in run.feed.truth[event["id"]].delivered_at if t <= seen_at]
        latencies.append(seen_at - sent[-1])
    print(f"observed: {len(lines)} tap lines, latency max {max(latencies) * 1000:.0f} ms")
    assert max(latencies) < 1.0
    assert {e["decode"] for _, e in lines} == {"ok"}
    assert all("total_m3" in (e["fields"] or {}) for _, e in lines)  # decoded values
    assert len(run.collector.docs("event/readings")) > batches_before


def test_a_meter_that_stops_sending_raises_meter_silent_and_clears_when_back(run: Run) -> None:
    _wait_for_telegrams(run, 8)  # its interval is known
    with run.feed.lock:
        run.feed.silenced.add(run.silent)

    def alarm(state: str) -> list[dict[str, Any]]:
        return [
            d
            for d in run.collector.docs("event/alarm")
            if d["id"] == run.silent and "METER_SILENT" in d[state]
        ]

    wait_until(lambda: bool(alarm("raised")), 30.0, "METER_SILENT raised", run.daemon)
    raised = alarm("raised")[0]
    assert raised["status"] == "METER_SILENT"
    assert raised["fields"]["interval_s"] == pytest.approx(INTERVAL_S, rel=0.05)
    with run.feed.lock:
        run.feed.silenced.discard(run.silent)
    wait_until(lambda: bool(alarm("cleared")), 30.0, "METER_SILENT cleared", run.daemon)
    assert alarm("cleared")[0]["status"] == "OK"
    assert len(alarm("raised")) == 1  # once, not at every check


# -- the reception figures (the silent meter left out: it was off, not lost) -------------------


def _compared(run: Run) -> tuple[dict[str, dict[str, Any]], dict[str, Truth], dict[str, Truth]]:
    _wait_for_telegrams(run, MIN_SENT)
    with run.feed.lock:
        before = {m: replace(t, rssi=list(t.rssi)) for m, t in run.feed.truth.items()}
    # What reached the pty before may still be on its way through the serial read batch
    # (35 ms) and the loop on a loaded machine: the daemon gets a moment to take it.
    time.sleep(0.5)
    rows = _rows(run)
    with run.feed.lock:
        after = {m: replace(t, rssi=list(t.rssi)) for m, t in run.feed.truth.items()}
    return rows, before, after


def test_telegram_counts_match_what_reached_the_radio(run: Run) -> None:
    rows, before, after = _compared(run)
    for meter in run.meters:
        assert before[meter].delivered - 1 <= rows[meter]["telegrams"], meter
        assert rows[meter]["telegrams"] <= after[meter].delivered + 1, meter


def test_mean_signal_is_within_a_decibel_of_the_truth(run: Run) -> None:
    rows, before, _ = _compared(run)
    for meter in run.meters:
        truth = statistics.fmean(before[meter].rssi)
        assert rows[meter]["rssi_dbm"]["mean"] == pytest.approx(truth, abs=1.0), meter


def test_reception_rate_is_within_three_points_of_the_share_delivered(run: Run) -> None:
    rows, before, after = _compared(run)
    for meter in run.meters:
        if meter == run.silent:
            continue
        share = before[meter].delivered / before[meter].sent
        later = after[meter].delivered / after[meter].sent
        rate = rows[meter]["reception_rate"]
        print(f"observed: {meter} loss {run.feed.loss[meter]:.0%} share {share:.3f} rate {rate}")
        assert min(share, later) - 0.03 <= rate <= max(share, later) + 0.03, meter


def test_quality_follows_the_configured_threshold(run: Run) -> None:
    rows, _, _ = _compared(run)
    for meter in run.meters:
        row = rows[meter]
        assert row["quality"] == ("good" if row["reception_rate"] >= GOOD_RATE else "poor")
        assert row["interval_s"] == pytest.approx(INTERVAL_S, rel=0.05)
    assert {rows[m]["quality"] for m in run.meters[:3]} == {"good"}  # nothing lost
    assert {rows[m]["quality"] for m in run.meters[6:9]} == {"poor"}  # half lost


def test_an_unheard_serial_gets_404_naming_it(run: Run) -> None:
    status, _, body = get(f"{run.web}/api/v1/meters/99999999", OPERATOR)
    assert status == 404
    assert body["error"].startswith("meter 99999999 has not been heard since 20")


def test_one_meter_by_serial(run: Run) -> None:
    status, _, body = get(f"{run.web}/api/v1/meters/{run.meters[0]}", OPERATOR)
    assert status == 200 and body["id"] == run.meters[0] and body["manufacturer"] == "KAM"


def test_no_token_gets_401(run: Run) -> None:
    assert get(f"{run.web}/api/v1/meters")[0] == 401


def test_a_tenant_token_sees_only_its_tenants_meters(run: Run) -> None:
    status, _, body = get(f"{run.web}/api/v1/meters", WATER_TOKEN)
    assert status == 200
    assert {r["id"] for r in body["meters"]} == set(run.water)
    assert {r["tenant"] for r in body["meters"]} == {"water"}
    assert body["others"] == len(run.meters) - len(run.water)
    heat_meter = next(m for m in run.meters if m not in run.water)
    assert get(f"{run.web}/api/v1/meters/{heat_meter}", WATER_TOKEN)[0] == 404


def test_the_mqtt_visibility_command_returns_the_same_meters(run: Run) -> None:
    reply = run.collector.command("visibility", {"gateway": GATEWAY}, daemon=run.daemon)
    assert reply["ok"] is True and reply["command"] == "visibility", reply
    assert {r["id"] for r in reply["result"]["meters"]} == set(run.water)
    assert reply["result"]["others"] == len(run.meters) - len(run.water)
    web = {r["id"]: r for r in get(f"{run.web}/api/v1/meters", WATER_TOKEN)[2]["meters"]}
    for row in reply["result"]["meters"]:
        assert set(row) == set(web[row["id"]]), row
        assert abs(row["telegrams"] - web[row["id"]]["telegrams"]) <= 2


def test_the_mqtt_visibility_command_can_name_meters(run: Run) -> None:
    args = {"meters": [run.water[0]]}
    reply = run.collector.command(
        "visibility", {"gateway": GATEWAY, "args": args}, daemon=run.daemon
    )
    assert [r["id"] for r in reply["result"]["meters"]] == [run.water[0]]


def test_the_control_socket_lists_every_meter_for_the_operator(run: Run) -> None:
    result = run.daemon.control("visible")
    assert {r["id"] for r in result["meters"]} == set(run.meters)


# -- the page, in real headless Chromium, on the running daemon ----------------------------


def test_the_page_answers_and_the_placement_view_follows_the_live_field(
    run: Run, tmp_path: Path
) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    with chromium(tmp_path / "profile") as page:
        wait = WebDriverWait(page, 15.0)
        page.get(f"{run.web}/")
        page.execute_script("localStorage.setItem('concentratord.token', arguments[0])", OPERATOR)
        page.get(f"{run.web}/")
        wait.until(lambda d: d.find_element("id", "search-input").is_displayed())

        def search(serial: str, expected: str) -> str:
            box = page.find_element("id", "search-input")
            box.clear()
            box.send_keys(serial)
            wait.until(lambda d: expected in d.find_element("id", "search-result").text)
            return str(page.find_element("id", "search-result").text)

        heard = search(run.meters[0], "heard")
        assert re.match(r"heard \d+ times, last at .*, RSSI -\d+(\.5)? dBm, reception", heard)
        screenshot(page, tmp_path, "daemon-search-heard")
        assert search("99999999", "not been heard").startswith("meter 99999999 has not been")
        screenshot(page, tmp_path, "daemon-search-unheard")

        page.find_element("id", "nav-placement").click()
        wait.until(lambda d: d.find_element("id", "live-status").text == "live")

        def shown() -> list[str]:
            items = page.find_elements("css selector", "#telegrams > li")
            return [str(i.get_attribute("data-id")) for i in items]

        wait.until(lambda _d: len(shown()) >= 3)
        first = shown()
        screenshot(page, tmp_path, "daemon-placement")
        # New telegrams keep coming in (about 12 a second from this field): the newest first.
        wait.until(lambda _d: shown()[:3] != first[:3])
        assert set(shown()) <= {f"KAM:{m}" for m in run.meters}
        bands = sum(int(page.find_element("id", f"band-{b}").text) for b in BANDS)
        assert bands == len(run.meters)
        screenshot(page, tmp_path, "daemon-placement-updated")


def test_stats_go_to_each_tenant_with_its_reception(run: Run) -> None:
    def stats() -> list[dict[str, Any]]:
        return [d for d in run.collector.docs("event/stats") if d.get("reception")]

    wait_until(lambda: bool(stats()), 20.0, "an event/stats document", run.daemon)
    doc = stats()[-1]
    reception = doc["reception"]
    assert reception["meters"] == len(run.water)
    assert reception["good"] + reception["poor"] + reception["unknown"] == reception["meters"]
    assert doc["counters"]["frames"] > 0 and doc["uptime_s"] > 0


def test_get_status_shows_a_tenant_only_its_own_counters_and_queue(run: Run) -> None:
    reply = run.collector.command("get_status", {"gateway": GATEWAY}, daemon=run.daemon)
    status = reply["result"]
    assert status["counters"]["meters"] == len(run.water)
    assert set(status["uplink"]) == {"water"}
    assert set(status["queue"]["pending"]) <= {"alarm", "readings", "stats"}
    rows = {r["id"]: r for r in run.daemon.control("visible")["meters"]}
    heard_by_water = sum(rows[m]["telegrams"] for m in run.water)
    heard_by_all = sum(r["telegrams"] for r in rows.values())
    assert status["counters"]["frames"] <= heard_by_water + len(run.water)  # +1 in flight
    assert status["counters"]["frames"] < heard_by_all  # heat's telegrams not counted


# -- last: a restart -----------------------------------------------------------------------


def test_statistics_survive_a_restart(run: Run) -> None:
    meter = run.meters[0]
    before = run.daemon.control("visible", {"serial": meter})
    run.daemon.stop()
    run.daemon.start()

    def answers() -> bool:
        try:
            run.daemon.control("status")
        except ControlError:
            return False
        return True

    wait_until(answers, 30.0, "the restarted daemon's control socket", run.daemon)
    after = run.daemon.control("visible", {"serial": meter})
    assert after["first_heard"] == before["first_heard"]
    assert after["telegrams"] >= before["telegrams"]
    assert after["interval_s"] == pytest.approx(before["interval_s"], rel=0.05)
