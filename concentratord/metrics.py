"""``/metrics``: the gateway's figures in the Prometheus text format (docs/operations.md,
"Metrics").

One source: every value is read, at scrape time, from the status the control socket and
``get_status`` report (``Daemon.status``) and from each tenant's counters (what its
``event/stats`` carries). Nothing here counts anything itself.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# Bytes of a request's line and headers; a scrape has no body.
MAX_REQUEST_BYTES = 8 * 1024
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# The reasons of concentratord_decode_errors_total and the status counters they come from.
DECODE_REASONS = {
    "link": "link_errors",
    "no_key": "no_key",
    "wrong_key": "wrong_key",
    "malformed": "decode_errors",
}


@dataclass(frozen=True)
class Snapshot:
    """What one scrape reports: the gateway's status and each tenant's counters."""

    status: Mapping[str, Any]
    tenants: Mapping[str, Mapping[str, int]]


def families(snapshot: Snapshot) -> list[Metric]:
    """The metric families of one snapshot (names and meaning: docs/operations.md)."""
    c = snapshot.status["counters"]
    out: list[Metric] = []

    def counter(name: str, doc: str, value: float) -> None:
        family = CounterMetricFamily(f"concentratord_{name}", doc)
        family.add_metric([], value)
        out.append(family)

    def gauge(name: str, doc: str, value: float) -> None:
        out.append(GaugeMetricFamily(f"concentratord_{name}", doc, value=value))

    def per_tenant(
        kind: type[CounterMetricFamily] | type[GaugeMetricFamily],
        name: str,
        doc: str,
        values: Iterable[tuple[str, float]],
    ) -> None:
        family = kind(f"concentratord_{name}", doc, labels=["tenant"])
        for tenant, value in values:
            family.add_metric([tenant], value)
        out.append(family)

    counter("frames", "Telegrams received (radio frames and wired answers).", c["frames"])
    counter(
        "radio_bad_frames", "Frames the module's framing refused.", c.get("radio_bad_frames", 0)
    )
    counter(
        "radio_reconnects",
        "Times the radio module's port was opened again.",
        c.get("radio_reconnects", 0),
    )
    reasons = CounterMetricFamily(
        "concentratord_decode_errors", "Telegrams not decoded, by reason.", labels=["reason"]
    )
    for reason, key in DECODE_REASONS.items():
        reasons.add_metric([reason], c.get(key, 0))
    out.append(reasons)
    counter("repeats", "Telegrams dropped as exact repeats.", c.get("repeats", 0))
    counter(
        "over_meter_limit",
        "Telegrams of meters beyond the meter limit.",
        c.get("over_meter_limit", 0),
    )
    gauge("meters_heard", "Meters heard (every meter, a neighbour's included).", c["meters"])
    tenants = snapshot.tenants
    per_tenant(
        CounterMetricFamily,
        "readings",
        "Telegrams decoded into readings.",
        ((t, v["readings"]) for t, v in tenants.items()),
    )
    per_tenant(
        CounterMetricFamily,
        "alarms",
        "Meter alarms raised or cleared.",
        ((t, v["alarms"]) for t, v in tenants.items()),
    )
    per_tenant(
        CounterMetricFamily,
        "published",
        "Documents the broker acknowledged.",
        ((t, v.get("published", 0)) for t, v in tenants.items()),
    )
    per_tenant(
        GaugeMetricFamily,
        "tenant_meters",
        "Meters of the tenant heard.",
        ((t, v["meters"]) for t, v in tenants.items()),
    )
    uplinks = snapshot.status.get("uplink", {})
    per_tenant(
        GaugeMetricFamily,
        "uplink_connected",
        "1 while the tenant's broker connection is up.",
        ((t, 1.0 if u.get("connected") else 0.0) for t, u in uplinks.items()),
    )
    pending = GaugeMetricFamily(
        "concentratord_outbox_pending",
        "Documents stored and not yet acknowledged, by tenant and kind.",
        labels=["tenant", "kind"],
    )
    queue = snapshot.status.get("queue", {})
    for tenant in tenants:
        kinds = queue.get("pending", {}).get(tenant, {})
        for kind in ("alarm", "readings", "event"):
            pending.add_metric([tenant, kind], kinds.get(kind, 0))
    out.append(pending)
    gauge(
        "store_bytes", "Bytes of the store's files (database and WAL).", queue.get("file_bytes", 0)
    )
    gauge(
        "uptime_seconds",
        "Seconds since the daemon started (gateway time).",
        snapshot.status.get("uptime_s", 0),
    )
    out.extend(_bus_families(snapshot.status.get("mbus", ())))
    return out


# The wired buses' figures (status "mbus", docs/operations.md): name -> (status key, help).
BUS_COUNTERS = {
    "mbus_polls": ("polls", "Polls of wired meters (one readout each), by bus port."),
    "mbus_answers": ("answers", "Polls a wired meter answered, by bus port."),
    "mbus_no_answer": ("no_answer", "Polls no answer (or only a bad one) came to."),
    "mbus_port_errors": ("port_errors", "Times the bus's port failed (unplugged, or refused)."),
    "mbus_reconnects": ("reconnects", "Times the bus's port came back after failing."),
}


def _bus_families(buses: Iterable[Mapping[str, Any]]) -> list[Metric]:
    buses = list(buses)
    if not buses:
        return []
    out: list[Metric] = []
    for name, (key, doc) in BUS_COUNTERS.items():
        family = CounterMetricFamily(f"concentratord_{name}", doc, labels=["port"])
        for bus in buses:
            family.add_metric([bus["port"]], bus[key])
        out.append(family)
    up = GaugeMetricFamily(
        "concentratord_mbus_port_open", "1 while the bus's port is open.", labels=["port"]
    )
    for bus in buses:
        up.add_metric([bus["port"]], 1.0 if bus["open"] else 0.0)
    out.append(up)
    return out


class _Fixed(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics


def exposition(snapshot: Snapshot) -> bytes:
    """The Prometheus text exposition of one snapshot."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(families(snapshot)))
    return generate_latest(registry)


class MetricsServer:
    """``GET /metrics`` on ``host:port``; every scrape reads a fresh snapshot."""

    def __init__(self, host: str, port: int, snapshot: Callable[[], Awaitable[Snapshot]]) -> None:
        self.host = host
        self._port = port
        self._snapshot = snapshot
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        """The port listened on (the real one once started, also for port 0)."""
        if self._runner is not None and self._runner.addresses:
            return int(self._runner.addresses[0][1])
        return self._port

    async def start(self) -> None:
        """Listen (OSError when the address is taken or not ours)."""
        app = web.Application(client_max_size=0)
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(
            app, access_log=None, max_line_size=MAX_REQUEST_BYTES, max_field_size=MAX_REQUEST_BYTES
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self._port).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        body = exposition(await self._snapshot())
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
