"""``concentratord run``: the radio, the pipeline, the store, the schedules and the uplink,
wired together and kept running.

Life cycle: open the store (quick check; a corrupt file is moved aside and an alarm raised;
a store that cannot be written stops the start, touching nothing), judge the clock, connect
each tenant's uplink, open the radio, then take frames until told to stop. Alarms are stored
and published at once; interval values are taken at each boundary by APScheduler, while the
clock is trusted (decision 0006), and published in batches; everything stored goes out
oldest first, alarms ahead of bulk, marked delivered only on the broker's PUBACK. What the
store refuses waits in memory (``StoreWriter``) and is stored when it can be.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from concentratord import __version__
from concentratord.clock import ScaledClock
from concentratord.config import Config, load_keys
from concentratord.config.meters import is_exact, matches
from concentratord.documents import UNASSIGNED, alarm_item, batch_items, utc
from concentratord.pipeline import AlarmEvent, Pipeline, Reading, Tenant
from concentratord.publisher import Publisher
from concentratord.schedule import PERIODS, BoundaryTrigger, IntervalTracker
from concentratord.store import OutboxItem, OutboxRow, RetentionPolicy, Store, StoreWriteError
from concentratord.store_writer import StoreWriter
from concentratord.timekeeping import ClockVerdict, TimeKeeper, sync_source
from radio.driver import ModuleDriver
from radio.frame import LinkMode, RadioFrame
from uplink import MqttUplink, codec_named, messages

log = logging.getLogger("concentratord")

DAY = 86_400.0
# Snapshots run this long (simulated seconds) after a boundary, so telegrams received just
# before it have been through the pipeline; short against any interval.
GRACE_S = 10.0


@dataclass
class GatewayAlarm:
    """An alarm of the gateway itself (not of a meter)."""

    name: str
    detail: str
    timestamp: float
    state: str = "raised"


@dataclass
class DaemonState:
    """What the status line, the control socket and get_status report."""

    started: float
    recent_alarms: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=200))
    gateway_alarms: list[GatewayAlarm] = field(default_factory=list)
    batches: int = 0
    frame_failures: int = 0


class Daemon:
    """One running gateway."""

    def __init__(
        self,
        config: Config,
        config_file: str,
        *,
        clock: ScaledClock | None = None,
        driver_factory: Callable[[], ModuleDriver] | None = None,
    ) -> None:
        self.config = config
        self.config_file = config_file
        schedule = config.schedule
        self.clock = clock or ScaledClock(
            schedule.time_scale,
            start=schedule.time_origin_sim,
            real_start=schedule.time_origin_real,
        )
        self.gateway = config.gateway.id
        self.state = DaemonState(started=self.clock())
        self.priority_meters: set[str] = set(config.schedule.priority_meters)
        self._driver_factory = driver_factory
        self.keys = load_keys(config, config_file)
        self.tenants = {t.name: t for t in config.tenants}
        self.pipeline = Pipeline(
            [
                Tenant(
                    t.name,
                    self.keys.get(t.name, {}),
                    raw=t.payload == "raw",
                    meters=_matcher(t.meters),
                )
                for t in config.tenants
            ],
            max_meters=config.limits.visible_meters,
        )
        self.store: Store | None = None
        self.uplinks: dict[str, MqttUplink] = {}
        self.publishers: dict[str, Publisher] = {}
        self.driver: ModuleDriver | None = None
        self.tracker = IntervalTracker(self.clock, GRACE_S)
        self.timekeeper: TimeKeeper | None = None
        self.writer: StoreWriter | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._jobs: set[asyncio.Future[None]] = set()
        self._snapshot_lock = asyncio.Lock()
        self._to_persist: asyncio.Queue[tuple[str, float, list[Reading]]] = asyncio.Queue()
        self._persist_task: asyncio.Task[None] | None = None
        self._usb: Any = None
        self._kinds: list[str] = []  # interval kinds taken, once the schedules run

    # -- message ids for documents that are not stored ------------------------------------

    def next_id(self) -> int:
        """A message id for a state document or a reply: taken under the store's durable
        id mark, so never handed out again, and never exhausted by a burst."""
        assert self.store is not None, "message ids before the store is open"
        return self.store.ids.take()[0]

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Open everything; return when the radio is configured and the schedules run."""
        cfg = self.config
        self.store = await Store.open(
            cfg.storage.path,
            max_bytes=cfg.storage.max_bytes,
            backfill_s=cfg.storage.backfill_days * DAY,
            retention=RetentionPolicy(
                raw_keep_s=cfg.storage.retention_raw_months * 31 * DAY,
                daily_keep_s=cfg.storage.retention_daily_years * 366 * DAY,
            ),
        )
        self.writer = StoreWriter(
            self.store,
            stored=self._wake_publishers,
            raised=lambda name, detail: self._spawn(self._gateway_alarm(name, detail)),
            cleared=lambda name, detail: self._spawn(
                self._gateway_alarm(name, detail, state="cleared")
            ),
        )
        self.timekeeper = TimeKeeper(
            self.clock,
            sync_source(cfg.clock.source, cfg.clock.synchronised_file),
            floor=self.store.newest_interval_end,
        )
        # The flags each meter last reported: a restart raises no alarm a second time.
        self.pipeline.restore_flags(await self.store.meter_status())
        for tenant in cfg.tenants:
            uplink = MqttUplink(
                cfg.broker_settings(tenant),
                gateway_id=self.gateway,
                online_state=self.online_document,
                offline_state=self.offline_document,
                message_ids=self.next_id,
                prefix=tenant.uplink.prefix,
                codec=codec_named(tenant.uplink.codec),
                on_command=self._command_handler(tenant.name),
            )
            self.uplinks[tenant.name] = uplink
            publisher = Publisher(
                tenant.name,
                self.store,
                uplink,
                window=tenant.uplink.max_inflight,
                backlog_rate=tenant.uplink.backlog_rate,
                clock=self.clock,
            )
            self.publishers[tenant.name] = publisher
            await uplink.start()
            publisher.start()
        # Gateway alarms after the publishers exist (one the store cannot take goes to them).
        if self.store.recovered_from is not None:
            await self._gateway_alarm(
                "STORE_CORRUPT", f"store was corrupt; moved aside to {self.store.recovered_from}"
            )
        self._check_clock()
        self.writer.start()
        self.driver = await self._make_driver()
        await self.driver.start()
        if self.config.radio.port.startswith("/dev/"):
            self._watch_usb(self.driver)
        self._persist_task = asyncio.create_task(self._persister(), name="persister")
        self._tasks.append(asyncio.create_task(self._frames(self.driver), name="frames"))
        self._start_schedules()
        self._tasks.append(asyncio.create_task(self._watch_clock(), name="clock"))

    def _spawn(self, job: Any) -> None:
        """Run a gateway-alarm coroutine from synchronous code (kept until it is done)."""
        task = asyncio.ensure_future(job)
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    def _wake_publishers(self, tenants: set[str]) -> None:
        for tenant in tenants:
            publisher = self.publishers.get(tenant)
            if publisher is not None:
                publisher.wake.set()

    async def _make_driver(self) -> ModuleDriver:
        if self._driver_factory is not None:
            return self._driver_factory()
        from radio.driver import ModuleError
        from radio.modules.registry import driver_class
        from radio.probe import probe

        radio = self.config.radio
        mode = LinkMode(radio.mode)
        if radio.module == "auto":
            cls = await probe(radio.port, mode)
            if cls is None:
                raise ModuleError(f"no known radio module answers on {radio.port}")
            log.info("radio: found %s on %s", cls.name, radio.port)
        else:
            cls = driver_class(radio.module)
        return cls(radio.port, mode, clock=self.clock, queue_size=self.config.limits.frame_queue)

    def _watch_usb(self, driver: ModuleDriver) -> None:
        """Follow a replugged dongle that comes back under another tty name."""
        try:
            from radio.usb import Dongle, UsbWatcher
        except ImportError:  # pragma: no cover - pyudev is a dependency
            return
        loop = asyncio.get_running_loop()

        def changed(action: str, dongle: Dongle) -> None:
            if action == "add" and driver.name in dongle.candidates:
                loop.call_soon_threadsafe(self._retarget, driver, dongle.device)

        watcher = UsbWatcher(changed)
        try:
            watcher.start()
        except Exception as err:  # no udev here (a container, a test): nothing to follow
            log.info("not watching USB: %s", err)
            return
        self._usb = watcher

    def _retarget(self, driver: ModuleDriver, device: str) -> None:
        if device != driver.port_path and not os.path.exists(driver.port_path):
            log.warning("radio dongle came back as %s (was %s)", device, driver.port_path)
            driver.retarget(device)

    def _start_schedules(self) -> None:
        kinds = ["5min"]  # always: priority meters may be set by a command later
        if self.config.schedule.hourly:
            kinds.append("hourly")
        if self.config.schedule.daily:
            kinds.append("daily")
        self._kinds = kinds
        scheduler = AsyncIOScheduler()
        floor = self.timekeeper.floor if self.timekeeper is not None else 0.0
        for kind in kinds:
            self.tracker.start(kind, floor=floor)
            scheduler.add_job(
                self.take_intervals,
                BoundaryTrigger(self.clock, PERIODS[kind], GRACE_S),
                args=[kind],
                id=kind,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
        scheduler.add_job(self.retention, BoundaryTrigger(self.clock, DAY, 3600.0), id="retention")
        scheduler.start()
        self._scheduler = scheduler

    async def stop(self) -> None:
        """Stop taking frames, publish what can be published quickly, close everything."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        if self._usb is not None:
            self._usb.stop()
        if self.driver is not None:
            await self.driver.stop()
        for task in [*self._tasks, *self._jobs]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.writer is not None:
            await self.writer.flush()  # a last try for what waits in memory
            await self.writer.stop()
        if self._persist_task is not None:
            # Interval values already taken are stored before the store closes.
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                await asyncio.wait_for(self._to_persist.join(), 30)
            self._persist_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._persist_task
        for publisher in self.publishers.values():
            await publisher.stop()
        for uplink in self.uplinks.values():
            with contextlib.suppress(Exception):
                await uplink.stop()
        if self.store is not None:
            await self.store.close()

    # -- frames ---------------------------------------------------------------------------

    async def _frames(self, driver: ModuleDriver) -> None:
        async for frame in driver.frames():
            try:
                await self.take_frame(frame)
            except Exception:
                # One frame that cannot be stored (a full disk, a store error) must not stop
                # the reader: log it loudly, count it, and take the next frame.
                self.state.frame_failures += 1
                log.exception("frame from %s could not be handled", driver.port_path)

    async def take_frame(self, frame: RadioFrame) -> None:
        """One frame through the pipeline; an alarm is stored and published at once."""
        # A frame received after an interval's end: take that interval now, before newer
        # readings push the meters' last ones before the end out of their short history
        # (the scheduled job may run late: a busy box, or a high time scale in tests).
        if any(
            (end := self.tracker.next_end(kind)) is not None and end <= frame.timestamp
            for kind in self._kinds
        ):
            for kind in self._kinds:
                await self.take_intervals(kind, passed=frame.timestamp)
        outcome = self.pipeline.process(frame)
        if outcome.alarm is not None:
            await self._store_alarm(outcome.alarm)

    async def _store_alarm(self, event: AlarmEvent) -> None:
        assert self.writer is not None
        item = alarm_item(
            self.gateway, event, event.previous_status, clock_synchronised=self._clock_trusted
        )
        # Stored, or kept in memory with the flags until it can be: never forgotten.
        await self.writer.enqueue([item], meter_status={event.meter_id: event.reading.flags})
        self.state.recent_alarms.append(
            {
                "id": event.meter_id,
                "tenant": event.tenant,
                "time": messages.iso_utc(utc(event.timestamp)),
                "status": event.status,
                "raised": sorted(event.raised),
                "cleared": sorted(event.cleared),
            }
        )

    async def _gateway_alarm(self, name: str, detail: str, state: str = "raised") -> None:
        """Raise (or clear) an alarm of the gateway itself, to every tenant.

        Stored like any alarm; when the store refuses it (the alarm may be about the store),
        it is published from memory under its own id instead, retried until acknowledged.
        """
        assert self.store is not None
        now = self.clock()
        self.state.gateway_alarms.append(GatewayAlarm(name, detail, now, state))
        if state == "raised":
            log.error("gateway alarm %s: %s", name, detail)
        else:
            log.warning("gateway alarm %s cleared: %s", name, detail)
        items = []
        for tenant in self.config.tenants:
            document = messages.gateway_alarm(
                gateway=self.gateway,
                message_id=UNASSIGNED,
                alarm=name,
                detail=detail,
                time=utc(now),
                state="cleared" if state == "cleared" else "raised",
                clock_synchronised=self._clock_trusted,
            )
            items.append(OutboxItem(tenant.name, "alarm", now, document))
        try:
            await self.store.enqueue(items)
        except StoreWriteError as exc:
            log.error("gateway alarm %s not stored (%s): publishing it from memory", name, exc)
            for item in items:
                self._send_unstored(item)
            return
        self._wake_publishers({item.tenant for item in items})

    def _send_unstored(self, item: OutboxItem) -> None:
        publisher = self.publishers.get(item.tenant)
        if publisher is None:
            return
        try:
            message_id = self.next_id()
        except OSError as exc:  # the id mark cannot be written either: nothing safe to send
            log.error("gateway alarm not published: no message id: %s", exc)
            return
        row = OutboxRow(
            message_id=message_id,
            tenant=item.tenant,
            kind=item.kind,
            created_at=item.created_at,
            interval_end=item.interval_end,
            document=item.document,
            attempts=0,
        )
        publisher.send_unstored(row)

    # -- the clock ------------------------------------------------------------------------

    @property
    def _clock_trusted(self) -> bool:
        return self.timekeeper is None or self.timekeeper.verdict.trusted

    def _check_clock(self) -> bool:
        """Judge the clock; on a change raise or clear its alarms, and when it is trusted
        again resume the intervals from the current boundary (none invented for the time it
        was not). Whether interval values may be taken now."""
        if self.timekeeper is None:
            return True
        previous, now = self.timekeeper.check()
        for alarm, was, is_ in (
            ("CLOCK_UNSYNCHRONISED", not previous.synchronised, not now.synchronised),
            ("CLOCK_STEPPED_BACK", previous.behind_store, now.behind_store),
        ):
            if is_ != was:
                self._spawn(self._gateway_alarm(alarm, self._clock_detail(now), _state(is_)))
        if now.trusted and not previous.trusted and self._kinds:
            # Behind the store only: the clock became right the moment it passed the floor.
            # Unsynchronised: when is unknown, so from now (nothing invented before it).
            floor = self.timekeeper.floor
            since = floor if previous.synchronised else self.clock()
            for kind in self._kinds:
                self.tracker.start(kind, now=since, floor=floor)
            log.warning("clock trusted again: intervals resume after %s", utc(since))
        return now.trusted

    def _clock_detail(self, verdict: ClockVerdict) -> str:
        assert self.timekeeper is not None
        parts = [f"clock source {self.timekeeper.source.name}"]
        parts.append("synchronised" if verdict.synchronised else "not synchronised")
        if self.timekeeper.floor:
            floor = messages.iso_utc(utc(self.timekeeper.floor))
            relation = "behind" if verdict.behind_store else "past"
            parts.append(f"{relation} the newest stored interval end {floor}")
        return "; ".join(parts)

    async def _watch_clock(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self._check_clock()

    # -- intervals ------------------------------------------------------------------------

    async def take_intervals(self, kind: str, passed: float | None = None) -> None:
        """Take the interval values of every due ``kind`` boundary (catching up if late);
        ``passed``: of every boundary at or before that time (see ``IntervalTracker.due``).

        Only the snapshot happens here, at once (it is what fixes the values); building the
        batches and storing them runs in the persister task, so an alarm telegram behind a
        30,000-meter snapshot is not kept waiting for it.
        """
        async with self._snapshot_lock:
            if not self._check_clock():
                return  # the snapshots wait for a clock that can label them
            assert self.timekeeper is not None
            for end in self.tracker.due(kind, passed):
                self.timekeeper.taken(end)
                meters = self.priority_meters if kind == "5min" else None
                if kind == "5min" and not meters:
                    continue
                self._to_persist.put_nowait((kind, end, self.pipeline.snapshot(end, meters)))

    async def _persister(self) -> None:
        """Store captured interval values, in the order they were taken."""
        while True:
            kind, end, readings = await self._to_persist.get()
            try:
                await self._store_interval(kind, end, readings)
            except Exception:
                log.exception("interval values of %s ending %s could not be stored", kind, end)
            finally:
                self._to_persist.task_done()

    async def _store_interval(self, kind: str, end: float, readings: list[Reading]) -> None:
        assert self.writer is not None
        by_tenant: dict[str, list[Reading]] = {}
        for reading in readings:
            by_tenant.setdefault(reading.tenant, []).append(reading)
        items: list[OutboxItem] = []
        now = self.clock()
        for tenant, tenant_readings in by_tenant.items():
            batch = self.tenants[tenant].uplink.batch_meters
            items += batch_items(self.gateway, tenant, kind, end, tenant_readings, batch, now)
            await asyncio.sleep(0)  # let frames through between tenants' batches
        if items:
            await self.writer.enqueue(items)  # stored, or kept in memory until it can be
            self.state.batches += len(items)

    async def retention(self) -> None:
        """Thin and expire delivered data past its horizon."""
        assert self.store is not None
        result = await self.store.apply_retention(self.clock())
        log.info("retention: %s", result)

    # -- documents ------------------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        """Gateway counters for state and stats documents."""
        c = self.pipeline.counters
        out = {
            "frames": c.frames,
            "readings": c.readings,
            "repeats": c.repeats,
            "decode_errors": c.decode_errors,
            "no_key": c.no_key,
            "wrong_key": c.wrong_key,
            "alarms": c.alarms,
            "over_meter_limit": c.over_meter_limit,
            "meters": len(self.pipeline.meters),
            "batches": self.state.batches,
            "frame_failures": self.state.frame_failures,
        }
        if self.writer is not None:
            unstored = self.writer.unstored
            for kind in ("alarm", "readings"):
                out[f"store_failures.{kind}"] = unstored.counters.store_failures[kind]
                out[f"unstored_dropped.{kind}"] = unstored.counters.dropped[kind]
        if self.driver is not None:
            out["radio_reconnects"] = self.driver.counters.reconnects
            out["radio_bad_frames"] = self.driver.counters.bad_frames
        return out

    def online_document(self) -> dict[str, Any]:
        """The retained ``online`` state (fresh counters at every connect)."""
        info = self.driver.module_info() if self.driver is not None else None
        radio = {
            "module": self.config.radio.module,
            "port": self.config.radio.port,
            "mode": self.config.radio.mode,
        }
        if info is not None:
            radio.update(type=info.module, firmware=info.firmware or "", id=info.module_id or "")
        return messages.online_state(
            gateway=self.gateway,
            message_id=self.next_id(),
            time=utc(self.clock()),
            version=__version__,
            profile=self.config.gateway.profile,
            radio=radio,
            uptime_s=int(self.clock() - self.state.started),
            counters=self.counters(),
        )

    def offline_document(self, reason: str) -> dict[str, Any]:
        """The retained ``offline`` state (last will, or on a clean stop)."""
        return messages.offline_state(
            gateway=self.gateway, message_id=self.next_id(), reason=reason
        )

    def _command_handler(self, tenant: str) -> Any:
        from concentratord.headend import HeadEndCommands

        return HeadEndCommands(self, tenant).handle

    # -- status ---------------------------------------------------------------------------

    async def status(self) -> dict[str, Any]:
        """Gateway status for the control socket, get_status and the status line."""
        queue = await self.store.stats() if self.store is not None else {}
        return {
            "gateway": self.gateway,
            "profile": self.config.gateway.profile,
            "version": __version__,
            "time": messages.iso_utc(utc(self.clock())),
            "uptime_s": int(self.clock() - self.state.started),
            "radio": {
                "module": self.config.radio.module,
                "mode": self.config.radio.mode,
                "configured": self.driver is not None and self.driver.configured_mode is not None,
            },
            "uplink": {
                name: {
                    "connected": u.connected.is_set(),
                    "published": self.publishers[name].counters.published,
                    "last_publish": self.publishers[name].counters.last_publish,
                }
                for name, u in self.uplinks.items()
            },
            "counters": self.counters(),
            "queue": queue,
            "store": self._store_status(),
            "clock": self._clock_status(),
            "gateway_alarms": [a.__dict__ for a in self.state.gateway_alarms],
        }

    def _store_status(self) -> dict[str, Any]:
        if self.writer is None:
            return {}
        unstored = self.writer.unstored
        return {
            "writable": self.writer.problem is None,
            "problem": self.writer.problem,
            "store_failures": dict(unstored.counters.store_failures),
            "waiting_in_memory": unstored.waiting(),
            "dropped_from_memory": dict(unstored.counters.dropped),
        }

    def _clock_status(self) -> dict[str, Any]:
        keeper = self.timekeeper
        if keeper is None:
            return {}
        verdict = keeper.verdict
        return {
            "source": keeper.source.name,
            "synchronised": verdict.synchronised,
            "behind_store": verdict.behind_store,
            "trusted": verdict.trusted,
            "newest_interval_end": messages.iso_utc(utc(keeper.floor)) if keeper.floor else None,
        }


def _state(active: bool) -> str:
    return "raised" if active else "cleared"


def _matcher(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    exact = {p for p in patterns if is_exact(p)}
    wild = [p for p in patterns if p not in exact]

    def owns(meter_id: str) -> bool:
        return meter_id in exact or any(matches(p, meter_id) for p in wild)

    return owns
