"""``/metrics`` of the running daemon, scraped as Prometheus would (issue 11): the figures
are the field's (telegrams and meters against what reached the pty), the uplink gauge
follows the broker, and ``event/stats`` arrives every (scaled) hour.

Twenty fixed meters at 720x (an hour of gateway time in 5 s), an emulated iM871A, a real
Mosquitto.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from threading import Lock

import pytest
from prometheus_client.parser import text_string_to_metric_families

from radio.sim.field import DEFAULT_EPOCH, Field, FieldConfig, Transmission
from radio.sim.imst import Im871aEmulator
from tests.daemon_harness import (
    DaemonProcess,
    UplinkCollector,
    simulated_gateway,
    wait_until,
)
from tests.mqtt_broker import MosquittoBroker, free_port

SCALE = 720.0
HOUR_REAL_S = 3600.0 / SCALE


class CountingFeed:
    """The field, counting the telegrams handed to the emulator, per meter."""

    def __init__(self, field: Field) -> None:
        self.field = field
        self.sent: dict[str, int] = {}
        self.lock = Lock()
        self.paused = False

    def events_until(self, t_sim: float) -> list[Transmission]:
        out = []
        for tx in self.field.events_until(t_sim):
            with self.lock:
                if self.paused:
                    tx = replace(tx, lost=True, reason="paused")
                elif not tx.lost:
                    self.sent[tx.meter_id] = self.sent.get(tx.meter_id, 0) + 1
            out.append(tx)
        return out

    def next_time(self) -> float | None:
        return self.field.next_time()


@dataclass
class Run:
    feed: CountingFeed
    emulator: Im871aEmulator
    broker: MosquittoBroker
    collector: UplinkCollector
    daemon: DaemonProcess
    metrics_url: str
    started: float


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    field = Field(FieldConfig(meters=20, seed=5, mix={"water": 1.0}, epoch=DEFAULT_EPOCH))
    feed = CountingFeed(field)
    port = free_port()
    with simulated_gateway(
        tmp_path_factory.mktemp("metrics"),
        feed,
        scale=SCALE,
        keys_text=field.keys_text(),
        epoch=DEFAULT_EPOCH,
        extra=f'[metrics]\nlisten = "127.0.0.1:{port}"\n[visibility]\nstats_interval = 3600\n',
    ) as gw:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_until(lambda: _answers(url), 20.0, "/metrics", gw.daemon)
        yield Run(feed, gw.emulator, gw.broker, gw.collector, gw.daemon, url, time.monotonic())


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def scrape(run: Run) -> dict[str, float]:
    """Every sample as ``name{label=value,...}`` -> value."""
    with urllib.request.urlopen(run.metrics_url, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def test_frames_and_meters_heard_are_the_fields(run: Run) -> None:
    # Counted from a moment the daemon reads the pty (before it configured the module, the
    # emulator's telegrams are not its): the field's count and the daemon's from there.
    with run.feed.lock:
        before = scrape(run)["concentratord_frames_total"]
        run.feed.sent.clear()
    time.sleep(3 * HOUR_REAL_S)
    with run.feed.lock:
        run.feed.paused = True  # nothing more on the pty: both sides can be compared
    time.sleep(1.0)
    with run.feed.lock:
        sent = sum(run.feed.sent.values())
        meters = len(run.feed.sent)
    samples = scrape(run)
    assert sent > 100
    counted = samples["concentratord_frames_total"] - before
    print(f"observed: field sent {sent}, /metrics counted {counted:.0f}")
    assert abs(counted - sent) <= 0.01 * sent
    assert samples["concentratord_meters_heard"] == meters
    assert samples["concentratord_readings_total{tenant=default}"] > 0
    with run.feed.lock:
        run.feed.paused = False


def test_metrics_are_what_status_reports(run: Run) -> None:
    samples = scrape(run)
    status = run.daemon.control("status", {})
    # Taken a moment apart on a running field: equal within what arrived in between.
    assert 0 <= status["counters"]["frames"] - samples["concentratord_frames_total"] <= 50
    assert samples["concentratord_store_bytes"] > 0


def test_stats_reach_the_broker_every_scaled_hour(run: Run) -> None:
    wait_until(
        lambda: len(run.collector.docs("event/stats")) >= 2, 4 * HOUR_REAL_S, "2 stats", run.daemon
    )
    hours = (time.monotonic() - run.started) / HOUR_REAL_S
    assert len(run.collector.docs("event/stats")) >= int(hours) - 1


def test_uplink_connected_follows_the_broker(run: Run) -> None:
    assert scrape(run)["concentratord_uplink_connected{tenant=default}"] == 1.0
    run.broker.stop()
    wait_until(
        lambda: scrape(run)["concentratord_uplink_connected{tenant=default}"] == 0.0,
        20.0,
        "uplink_connected 0",
        run.daemon,
    )
