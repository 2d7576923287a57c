"""What sharing a gateway costs: one 30,000-meter field served as 1 tenant or as 3.

The same simulated field (``radio.sim.field``, ``FieldConfig(meters=30000,
collisions=False)``, the default kind mix, C1 every 96 s and OMS T1 every 15 min) is served
by a gateway configured with one ``[[tenant]]`` taking every meter (``"*"``), and with three
``[[tenant]]`` tables splitting the meters by the first digit of their id (``1*``-``3*``,
``4*``-``6*``, ``7*``-``9*``: about a third each), each with its own keys file holding only
its meters' keys. Both gateways are built by the daemon's own code: the configuration is
loaded with ``load_config`` and the pipeline is the one ``concentratord.daemon.Daemon``
makes from it (one ``Tenant`` per table, its decoder, its live key view, its meter matcher).

- **CPU per telegram**: process CPU time (``time.process_time``) of
  ``Pipeline.process`` over the field's pre-generated frames (``RadioFrame`` as the iM871A
  driver delivers them: no CRCs). The first ``WARMUP_S`` simulated seconds (every meter is
  heard once: its state is made, its tenant found, its first telegram is a full frame) are
  timed apart as ``first_sight``; the next ``MEASURE_S`` seconds are the figure
  (``steady``). ``ROUNDS`` rounds, the two configurations alternating, each a fresh
  pipeline on the same frames; the median and the lowest are reported.
- **store bytes per meter-day**: the meters' readings of each pipeline after its run give
  each meter's decoded fields; for ``HOURS`` hours of a simulated day each meter gets new
  values from the simulator's own meter model at a reception time up to one interval before
  the hour (``radio.sim.meters.values`` and ``Kind.truth``, the values its telegram would
  carry). Every hour (and a daily snapshot at the last hour when ``HOURS`` is 24), the
  readings are grouped by tenant and made into batch documents by
  ``concentratord.documents.batch_items`` with each tenant's ``uplink.batch_meters``, one
  ``Store.enqueue`` per tenant (as ``Intervals._store`` does), then the publisher's
  ``pending`` and ``mark_delivered``; ``apply_retention`` at the end. The figure is the size
  of the store file (and its WAL, if any is left) after ``close`` (which checkpoints the
  WAL), divided by meters x days, on a fresh ``Store`` per configuration in a temporary
  directory; with the number of documents stored.

``python -m bench.tenancy_cost`` prints the figures; ``main()`` returns them.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from concentratord.config import Config, load_config
from concentratord.daemon import Daemon
from concentratord.documents import batch_items
from concentratord.intervals import GRACE_S
from concentratord.pipeline import MeterState, Pipeline, Reading
from concentratord.store import RetentionPolicy, Store
from radio.frame import RadioFrame
from radio.sim import meters as model
from radio.sim.field import Field, FieldConfig
from radio.sim.meters import SimMeter

METERS = 30_000
SEED = 3
WARMUP_S = 100.0  # simulated seconds: every C1 meter heard once (OMS T1 meters: a ninth)
MEASURE_S = 200.0
ROUNDS = 3
HOURS = 24  # one simulated day of hourly batches, with the daily batch at its end
HOUR = 3600.0
DAY = 86_400.0
GATEWAY = "gw-bench"
# name -> the tenants' meter patterns; tenant names are the same in both configurations.
SPLITS: dict[str, tuple[tuple[str, ...], ...]] = {
    "1": (("*",),),
    "3": (("1*", "2*", "3*"), ("4*", "5*", "6*"), ("7*", "8*", "9*")),
}
TENANT_NAMES = ("utility-a", "utility-b", "utility-c")


@dataclass
class Gateway:
    """One configuration: its loaded config and the pipeline the daemon built from it."""

    name: str
    config: Config
    pipeline: Pipeline


def _owner(meter_id: str, split: Sequence[tuple[str, ...]]) -> int:
    """The index of the tenant whose prefix patterns take ``meter_id``."""
    for index, patterns in enumerate(split):
        if any(meter_id.startswith(p.rstrip("*")) for p in patterns):
            return index
    raise ValueError(f"meter {meter_id} is in no tenant of {split}")


def _write_config(workdir: Path, split: Sequence[tuple[str, ...]], field: Field) -> Path:
    """A daemon configuration with one ``[[tenant]]`` per entry of ``split``, each with a
    keys file of its own meters' keys (mode 0600, as the daemon requires)."""
    workdir.mkdir(parents=True, exist_ok=True)
    keys: list[list[str]] = [[] for _ in split]
    for meter in field.meters:
        keys[_owner(meter.meter_id, split)].append(f"{meter.meter_id} {meter.key.hex().upper()}")
    tables = []
    for index, patterns in enumerate(split):
        name = TENANT_NAMES[index]
        keys_file = workdir / f"keys-{name}.txt"
        keys_file.touch(mode=0o600)
        keys_file.write_text("\n".join(keys[index]) + "\n")
        meters = ", ".join(f'"{p}"' for p in patterns)
        tables.append(
            f'[[tenant]]\nname = "{name}"\nmeters = [{meters}]\nkeys_file = "{keys_file}"\n'
            f'[tenant.uplink]\nbroker = "mqtt://127.0.0.1:1"\nprefix = "{name}"\n'
        )
    text = (
        f'[gateway]\nid = "{GATEWAY}"\nprofile = "concentrator-1m"\n'
        f'state_dir = "{workdir}/state"\n\n'
        f'[radio]\nmodule = "im871a"\nmode = "c1t1"\n\n[clock]\nsource = "trusted"\n\n'
        f'[storage]\npath = "{workdir}/state/store.sqlite"\nmax_bytes = 4294967296\n\n'
        + "\n".join(tables)
    )
    path = workdir / "concentratord.toml"
    path.write_text(text)
    return path


def _gateway(workdir: Path, name: str, field: Field) -> Gateway:
    path = _write_config(workdir / f"tenants-{name}", SPLITS[name], field)
    config = load_config(path)
    return Gateway(name, config, Daemon(config, str(path)).pipeline)


def _frames(field: Field) -> tuple[list[RadioFrame], int]:
    """The field's received telegrams as the driver delivers them, and how many of them
    fall in the warm-up."""
    epoch = field.config.epoch
    plan = [tx for tx in field.pregenerate(WARMUP_S + MEASURE_S) if not tx.lost]
    frames = [RadioFrame(tx.frame, tx.rssi_dbm, epoch + tx.t, tx.link_mode) for tx in plan]
    return frames, sum(1 for tx in plan if tx.t < WARMUP_S)


def _run(pipeline: Pipeline, frames: list[RadioFrame], warmup: int) -> dict[str, Any]:
    """CPU time of ``Pipeline.process`` over the warm-up, then over the measured frames."""
    process = pipeline.process
    gc.collect()
    t0 = time.process_time()
    for frame in frames[:warmup]:
        process(frame)
    first_sight = time.process_time() - t0
    errors: Counter[str] = Counter()
    measured = frames[warmup:]
    gc.collect()
    t0 = time.process_time()
    outcomes = [process(frame) for frame in measured]
    steady = time.process_time() - t0
    for outcome in outcomes:
        if outcome.error is not None:
            errors[outcome.error.split(":")[0]] += 1
    if errors:
        raise RuntimeError(f"telegrams not decoded in the measured window: {dict(errors)}")
    return {
        "first_sight_us": first_sight / warmup * 1e6,
        "steady_us": steady / len(measured) * 1e6,
        "readings": sum(1 for o in outcomes if o.reading is not None),
    }


def _cpu(field: Field, workdir: Path) -> tuple[dict[str, Any], dict[str, Gateway]]:
    frames, warmup = _frames(field)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in SPLITS}
    last: dict[str, Gateway] = {}
    for round_ in range(ROUNDS):
        order = list(SPLITS) if round_ % 2 == 0 else list(reversed(SPLITS))
        for name in order:
            last.pop(name, None)  # the previous round's pipeline goes before the next
            gateway = _gateway(workdir / f"round-{round_}", name, field)
            runs[name].append(_run(gateway.pipeline, frames, warmup))
            last[name] = gateway
    out: dict[str, Any] = {
        "telegrams_first_sight": warmup,
        "telegrams_measured": len(frames) - warmup,
    }
    for name, rounds in runs.items():
        pipeline = last[name].pipeline
        steady = [r["steady_us"] for r in rounds]
        first = [r["first_sight_us"] for r in rounds]
        out[name] = {
            "tenants": {
                t.name: {
                    "meters": list(SPLITS[name][i]),
                    "meters_heard": sum(1 for m in pipeline.meters.values() if m.tenant == t.name),
                    "readings": pipeline.tenant_counters[t.name].readings,
                }
                for i, t in enumerate(pipeline.tenants)
            },
            "steady_us_per_telegram": [round(v, 2) for v in steady],
            "steady_us_median": round(statistics.median(steady), 2),
            "steady_us_min": round(min(steady), 2),
            "first_sight_us_per_telegram": [round(v, 2) for v in first],
            "first_sight_us_median": round(statistics.median(first), 2),
        }
    out["steady_ratio_3_to_1"] = round(
        out["3"]["steady_us_median"] / out["1"]["steady_us_median"], 3
    )
    return out, last


# ------------------------------------------------------------------------------ the store


@dataclass(frozen=True, slots=True)
class _Meter:
    state: MeterState
    last: Reading
    sim: SimMeter


def _meters(gateway: Gateway, field: Field) -> list[_Meter]:
    """Each heard meter with its last reading (its decoded fields) and its simulated self."""
    return [
        _Meter(state, state.readings[-1], field.by_id[state.meter_id])
        for state in gateway.pipeline.meters.values()
        if state.readings
    ]


Values = list[tuple[_Meter, dict[str, Any], float]]


def _hour(meters: list[_Meter], end: float, epoch: float, rng: random.Random) -> Values:
    """Each meter's fields at a reception time before ``end``, from the simulator's model:
    (state, fields, heard); the same fields go to both configurations."""
    out: Values = []
    for m in meters:
        heard = end - rng.uniform(1.0, min(m.sim.interval, HOUR - GRACE_S))
        truth = m.sim.kind.truth(model.values(m.sim, heard - epoch, epoch))
        fields = {k: truth.get(k, v) for k, v in m.last.fields.items()}
        out.append((m, fields, heard))
    return out


async def _open(config: Config, path: Path) -> Store:
    storage = config.storage  # as Daemon.start opens it
    return await Store.open(
        path,
        max_bytes=storage.max_bytes,
        backfill_s=storage.backfill_days * DAY,
        retention=RetentionPolicy(
            raw_keep_s=storage.retention_raw_months * 31 * DAY,
            daily_keep_s=storage.retention_daily_years * 366 * DAY,
        ),
    )


async def _store_day(gateways: dict[str, Gateway], field: Field, workdir: Path) -> dict[str, Any]:
    epoch = field.config.epoch
    day0 = epoch + DAY  # the day after the field's start: midnight to midnight
    base = _meters(gateways["1"], field)
    tenant_of = {
        name: {key: s.tenant for key, s in g.pipeline.meters.items()}
        for name, g in gateways.items()
    }
    stores = {
        name: await _open(g.config, workdir / f"store-{name}.sqlite")
        for name, g in gateways.items()
    }
    batch_meters = {
        name: {t.name: t.uplink.batch_meters for t in g.config.tenants}
        for name, g in gateways.items()
    }
    documents: dict[str, Counter[str]] = {name: Counter() for name in gateways}
    rng = random.Random(7)
    started = time.perf_counter()
    for hour in range(1, HOURS + 1):
        end = day0 + hour * HOUR
        values = _hour(base, end, epoch, rng)
        kinds = ["hourly"] + (["daily"] if hour % 24 == 0 else [])
        for name, store in stores.items():
            owner = tenant_of[name]
            by_tenant: dict[str, list[Reading]] = {}
            for m, fields, heard in values:
                tenant = owner[m.state.key]
                assert tenant is not None
                reading = Reading(
                    m.state.meter_id, tenant, heard, fields, m.last.rssi_dbm, m.last.link_mode
                )
                by_tenant.setdefault(tenant, []).append(reading)
            stored = 0
            for kind in kinds:
                for tenant, rows in by_tenant.items():  # as Intervals._store
                    items = batch_items(
                        GATEWAY, tenant, kind, end, rows, batch_meters[name][tenant], end + GRACE_S
                    )
                    await store.enqueue(items)
                    documents[name][tenant] += len(items)
                    stored += len(items)
            rows_out = await store.pending(stored)
            await store.mark_delivered([r.message_id for r in rows_out], end + GRACE_S + 5.0)
    out: dict[str, Any] = {
        "hours": HOURS,
        "days": HOURS / 24,
        "daily_batch": HOURS % 24 == 0,
        "meters": len(base),
    }
    days = HOURS / 24
    for name, store in stores.items():
        await store.apply_retention(day0 + HOURS * HOUR)
        stats = await store.stats()
        await store.close()
        files = [Path(f"{store.path}{suffix}") for suffix in ("", "-wal")]
        size = sum(f.stat().st_size for f in files if f.exists())
        out[name] = {
            "documents": sum(documents[name].values()),
            "documents_per_tenant": dict(documents[name]),
            "file_bytes_after_close": size,
            "used_bytes_before_close": stats["used_bytes"],
            "bytes_per_meter_day": round(size / (len(base) * days), 1),
        }
    out["build_and_store_s"] = round(time.perf_counter() - started, 1)
    out["bytes_ratio_3_to_1"] = round(
        out["3"]["bytes_per_meter_day"] / out["1"]["bytes_per_meter_day"], 3
    )
    return out


def main() -> dict[str, Any]:
    """Scenario ``tenancy``: CPU per telegram and store bytes, 1 tenant against 3."""
    wall = time.perf_counter()
    field = Field(FieldConfig(meters=METERS, collisions=False, seed=SEED, truth_depth=0))
    with tempfile.TemporaryDirectory(prefix="bench-tenancy-") as tmp:
        workdir = Path(tmp)
        cpu, gateways = _cpu(field, workdir)
        store = asyncio.run(_store_day(gateways, field, workdir))
    result = {
        "meters": METERS,
        "field_seed": SEED,
        "rounds": ROUNDS,
        "splits": {name: [list(p) for p in split] for name, split in SPLITS.items()},
        "cpu": cpu,
        "store": store,
        "wall_s": round(time.perf_counter() - wall, 1),
        "measures": "CPU: time.process_time of Pipeline.process per telegram (pipeline built "
        "by Daemon from the loaded config); store: file (+WAL) bytes after close of a "
        f"simulated {HOURS} h of hourly (+daily) batches per tenant, per meter-day",
    }
    one, three = cpu["1"], cpu["3"]
    print(
        f"tenancy: {METERS} meters, {cpu['telegrams_measured']} telegrams measured x {ROUNDS} "
        f"rounds: 1 tenant {one['steady_us_median']} us CPU per telegram (first sight "
        f"{one['first_sight_us_median']} us), 3 tenants {three['steady_us_median']} us "
        f"({three['first_sight_us_median']} us): x{cpu['steady_ratio_3_to_1']}",
        flush=True,
    )
    print(
        f"tenancy: store, {HOURS} h of hourly batches (+daily): 1 tenant "
        f"{store['1']['bytes_per_meter_day']} B/meter-day in {store['1']['documents']} "
        f"documents, 3 tenants {store['3']['bytes_per_meter_day']} B/meter-day in "
        f"{store['3']['documents']} documents: x{store['bytes_ratio_3_to_1']} "
        f"(total {result['wall_s']} s)",
        flush=True,
    )
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
