"""``concentratord run``: the radio, the pipeline, the store, the schedules and the uplink,
wired together in one place and kept running.

One owner per concern, one module each: the pipeline (frames -> readings and alarm events,
``pipeline.py``), the store writer (what the store refuses waits in memory,
``store_writer.py``), the gateway's own alarms (``gateway_alarms.py``), the interval
schedule with its clock verdict (``intervals.py``), the publishers (``publisher.py``), the
keys (``keystore.py``), the priority meters (``priority.py``) and the head-end commands
(``headend.py``). Each gets the narrow objects it needs, never the daemon.

Life cycle: open the store (quick check; a corrupt file is moved aside and an alarm raised;
a store that cannot be written stops the start, touching nothing), judge the clock, connect
each tenant's uplink, open the radio, then take frames until told to stop. The frame loop
reads top to bottom: frame -> intervals due before it -> pipeline -> alarm stored ->
publishers woken.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bus.answer import LINK_MODE as WIRED_LINK_MODE
from bus.answer import WiredAnswer, answer_address, merged_telegram
from concentratord import __version__
from concentratord.access import Authority, PermissionTable
from concentratord.bridge.battery import BatteryBridge
from concentratord.clock import ScaledClock
from concentratord.config import Config, TenantConfig, load_drivers, load_keys
from concentratord.config.mbus import MbusConfig
from concentratord.documents import alarm_item, utc
from concentratord.field_watch import FieldWatch
from concentratord.gateway_alarms import GatewayAlarms
from concentratord.groups import MeterGroups
from concentratord.hass_feed import HomeAssistantFeed
from concentratord.headend import HeadEndCommands, TenantServices
from concentratord.health import Deadlines, Health
from concentratord.intervals import Intervals
from concentratord.keystore import KeyStore
from concentratord.memory_watch import MemoryWatch
from concentratord.pipeline import AlarmEvent, Heard, Outcome, Pipeline, Tenant
from concentratord.priority import PriorityMeters
from concentratord.publisher import Publisher
from concentratord.schedule import BoundaryTrigger
from concentratord.store import OutboxItem, RetentionPolicy, Store
from concentratord.store_writer import StoreWriter
from concentratord.tap import Tap
from concentratord.tenancy import TenantMap
from concentratord.timekeeping import TimeKeeper, sync_source
from concentratord.visibility import Visibility, tap_event
from concentratord.wired_bus import WiredBus
from protocols.errors import DecodeError
from protocols.mbus.frames import LongFrame
from protocols.readout import error_fields, telegram_fields
from protocols.wmbus.decoder import TelegramDecoder
from radio.driver import ModuleDriver
from radio.frame import LinkMode, RadioFrame
from uplink import Command, MqttUplink, Reply, codec_named, messages

if TYPE_CHECKING:
    from concentratord.metrics import Snapshot

log = logging.getLogger("concentratord")

DAY = 86_400.0


@dataclass
class DaemonState:
    """What the status line, the control socket and get_status report."""

    started: float
    recent_alarms: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=200))
    frame_failures: int = 0
    meter_limit_raised: bool = False
    last_frame_at: float = 0.0  # gateway time of the newest telegram (the start before one)


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
        self.state.last_frame_at = self.state.started
        self._driver_factory = driver_factory
        # The one owner of the meter-to-tenant assignment (configured and runtime tenants).
        self.tenants = TenantMap(config.tenants)
        self.keys = KeyStore(
            load_keys(config, config_file),
            sources={t.name: t.keys_file for t in config.tenants if t.keys_file},
            tenants={t.name: t.payload != "raw" for t in config.tenants},
            state_dir=config.gateway.state_dir,
            device_key=device_key(config),
        )
        self.tenants.bind_key_holders(self.keys.holders)
        # The package's drivers and drivers.dir's (checked when the configuration loaded).
        self.registry = load_drivers(config, config_file)
        # A battery bridge listens in windows and delivers in sessions ([bridge]).
        self.bridge = BatteryBridge(config.bridge, self.clock) if config.bridge else None
        self.pipeline = Pipeline(
            [self._pipeline_tenant(t) for t in config.tenants],
            max_meters=config.limits.visible_meters,
            served_meters=config.limits.max_meters,
            served_heat_meters=config.limits.max_heat_meters,
            reception_window_s=config.visibility.window,
        )
        self.visibility = Visibility(
            self.pipeline.meters,
            clock=self.clock,
            good_rate=config.visibility.good_reception_rate,
            silent_after=config.visibility.silent_after,
            listened=self.bridge.listened if self.bridge is not None else None,
        )
        self.tap = Tap()
        self.keys.load_runtime(self.owner)
        self.priority = PriorityMeters(schedule.priority_meters, self.owner)
        self.groups = MeterGroups(self.owner)
        self.authority = Authority(PermissionTable(), self._append_audit, self.clock)
        self._batch_meters = {t.name: t.uplink.batch_meters for t in config.tenants}
        self.store: Store | None = None
        self.writer: StoreWriter | None = None
        self.alarms: GatewayAlarms | None = None
        self.intervals: Intervals | None = None
        self.watch: FieldWatch | None = None
        self.uplinks: dict[str, MqttUplink] = {}
        self.publishers: dict[str, Publisher] = {}
        self.driver: ModuleDriver | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._usb: Any = None
        self.memory: MemoryWatch | None = None
        self._headends: dict[str, HeadEndCommands] = {}
        self.buses: dict[str, WiredBus] = {}  # by port: the [[mbus]] buses polled

    def owner(self, meter_id: str) -> str | None:
        """The tenant of meter ``meter_id`` (of some manufacturer), or None."""
        return self.tenants.owner(meter_id)

    def _pipeline_tenant(self, config: TenantConfig) -> Tenant:
        name = config.name

        def mine(meter_id: str, manufacturer: str | None) -> bool:
            return self.tenants.owner(meter_id, manufacturer) == name

        return Tenant(
            name,
            self.keys.keys_of(name),
            raw=config.payload == "raw",
            meters=mine,
            registry=self.registry,
        )

    async def _append_audit(self, entry: dict[str, Any]) -> None:
        if self.store is None:
            raise RuntimeError("the store is not open: the entry is in the journal only")
        await self.store.audit.append(entry)

    def next_id(self) -> int:
        """A message id for a state document or a reply: taken under the store's durable
        id mark, so never handed out again, and never exhausted by a burst."""
        assert self.store is not None, "message ids before the store is open"
        return self.store.ids.take()[0]

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Open everything; return when the radio is configured and the schedules run."""
        cfg = self.config
        store = self.store = await Store.open(
            cfg.storage.path,
            max_bytes=cfg.storage.max_bytes,
            backfill_s=cfg.storage.backfill_days * DAY,
            retention=RetentionPolicy(
                raw_keep_s=cfg.storage.retention_raw_months * 31 * DAY,
                daily_keep_s=cfg.storage.retention_daily_years * 366 * DAY,
            ),
            audit_share=cfg.access.audit_max_share,
        )
        await self._restore_access(store)
        timekeeper = TimeKeeper(
            self.clock,
            sync_source(cfg.clock.source, cfg.clock.synchronised_file),
            floor=store.newest_interval_end,
        )
        alarms = self.alarms = GatewayAlarms(
            gateway=self.gateway,
            tenants=self.served_tenants(),
            store=store,
            publishers=self.publishers,
            ids=store.ids,
            clock=self.clock,
            clock_trusted=lambda: timekeeper.verdict.trusted,
        )
        writer = self.writer = StoreWriter(
            store,
            stored=self._wake_publishers,
            raised=alarms.spawn,
            cleared=lambda name, detail: alarms.spawn(name, detail, "cleared"),
        )
        self.intervals = Intervals(
            gateway=self.gateway,
            clock=self.clock,
            timekeeper=timekeeper,
            snapshot=self.pipeline.snapshot,
            priority=self.priority,
            writer=writer,
            batch_meters=self._batch_meters,  # live: runtime tenants join it
            alarms=alarms,
        )
        self.watch = FieldWatch(
            gateway=self.gateway,
            pipeline=self.pipeline,
            visibility=self.visibility,
            store=store,
            emit=self._emit,
            clock=self.clock,
            clock_trusted=lambda: timekeeper.verdict.trusted,
        )
        # The meters heard before, then the flags each last reported: a restart raises no
        # alarm a second time.
        await self.watch.restore()
        self.pipeline.restore_flags(await store.meter_status())
        for name in self.tenants.names:
            await self._connect(name)
        # Gateway alarms once the publishers exist (one the store refuses goes to them).
        if store.recovered_from is not None:
            await alarms.raise_(
                "STORE_CORRUPT", f"store was corrupt; moved aside to {store.recovered_from}"
            )
        self.intervals.check_clock()
        writer.start()
        self.driver = await self._make_driver()
        await self.driver.start()
        if cfg.radio.port.startswith("/dev/"):
            self._watch_usb(self.driver)
        self._tasks.append(asyncio.create_task(self._frames(self.driver), name="frames"))
        if self.bridge is not None:
            self.bridge.start_radio(self.driver, self._served_intervals)
        self._start_buses()
        self._tasks.append(asyncio.create_task(self.watch.run(), name="field-watch"))
        self.memory = MemoryWatch(cfg.limits.memory_bytes, alarms.spawn)
        self._tasks.append(asyncio.create_task(self.memory.run(), name="memory-watch"))
        self._start_schedules()

    def _start_buses(self) -> None:
        """A loop per ``[[mbus]]`` bus, its answers taken as radio frames are."""
        for config in self.config.mbus:
            bus = self.buses[config.port] = self._make_bus(config)
            self._tasks.append(asyncio.create_task(self._poll(bus), name=f"mbus {config.port}"))

    def _make_bus(self, config: MbusConfig) -> WiredBus:
        return WiredBus(config, clock=self.clock, take=self._take_answer)

    async def _take_answer(self, answer: WiredAnswer) -> None:
        try:
            await self.take_wired(answer)
        except Exception:
            # As in _frames: one answer that cannot be handled must not stop the bus.
            self.state.frame_failures += 1
            log.exception(
                "answer of wired meter %s on %s could not be handled", answer.address, answer.bus
            )

    async def _poll(self, bus: WiredBus) -> None:
        # A fault of the loop itself is logged and the loop started again, never silent.
        while True:
            try:
                await bus.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.state.frame_failures += 1
                log.exception("mbus %s: poll loop failed; starting it again", bus.port)
                bus.transport.close()
                await asyncio.sleep(1.0)

    def decode_wired(self, frames: Sequence[LongFrame], with_records: bool) -> dict[str, Any]:
        """A wired slave's answer read on demand, as ``decode`` prints it: with the keys of
        the meter's tenant (a fresh decoder: a technician's read does not move the
        tenant's replay check), keyless for a meter of no tenant."""
        try:
            sender = answer_address(frames[0]) if frames else None
            tenant = self.pipeline.tenant_for(sender.id, sender.manufacturer) if sender else None
            decoder = TelegramDecoder(tenant.keys if tenant else {}, registry=self.registry)
            telegram = merged_telegram(frames, decoder)
            return telegram_fields(telegram, with_records=with_records, registry=self.registry)
        except DecodeError as err:
            return error_fields(err)

    async def _restore_access(self, store: Store) -> None:
        """The permission table, the meter groups and the runtime tenants kept in the store."""
        self.authority.table = PermissionTable.load(await store.load_blob("access"))
        self.groups.load(await store.load_blob("groups"))
        for name in self.tenants.load(await store.load_blob("tenants")):
            self._join(self.tenants.config(name))

    async def save_access(self, what: str) -> None:
        """Keep ``access`` (the permission table), ``groups`` or ``tenants`` in the store."""
        assert self.store is not None
        body = {
            "access": self.authority.table.dump,
            "groups": self.groups.dump,
            "tenants": self.tenants.dump,
        }[what]()
        await self.store.save_blob(what, body)

    def apply_config(self, config: Config) -> None:
        """A reloaded configuration whose changes may all be made live
        (``concentratord/reload.py``, ``LIVE``); the keys files are read again."""
        keys = load_keys(config, self.config_file)  # ConfigError: nothing changed yet
        self.keys.replace_base(keys)
        self.config = config
        self.priority.configure(config.schedule.priority_meters)
        self.visibility.good_rate = config.visibility.good_reception_rate
        self.visibility.silent_after = config.visibility.silent_after
        if self.memory is not None:
            self.memory.limit = config.limits.memory_bytes
        for commands in self._headends.values():
            commands.role = config.access.headend_role
        self.pipeline.reassign()  # meters claimed by keys may have changed hands

    def _join(self, config: TenantConfig) -> None:
        """A runtime tenant's place in the pipeline, the key store and the schedules."""
        self.keys.add_tenant(config.name, config.payload != "raw")
        self.pipeline.add_tenant(self._pipeline_tenant(config))
        self._batch_meters[config.name] = config.uplink.batch_meters
        if self.alarms is not None:
            self.alarms.tenants = tuple(self.served_tenants())

    async def add_tenant(self, config: TenantConfig) -> str:
        """Add a tenant at run time (pending until its head-end presents the share ID
        returned here); its uplink connects at once; kept across restarts."""
        share_id = self.tenants.add(config)
        self._join(config)
        await self.save_access("tenants")
        await self._connect(config.name)
        return share_id

    async def remove_tenant(self, name: str) -> None:
        """Remove a runtime tenant: its uplink closes, its meters belong to no tenant."""
        self.tenants.remove(name)
        await self.save_access("tenants")
        self._headends.pop(name, None)
        if self.bridge is not None:
            await self.bridge.stop_sessions(name)
        publisher = self.publishers.pop(name, None)
        if publisher is not None:
            await publisher.stop()
        uplink = self.uplinks.pop(name, None)
        if uplink is not None:
            with contextlib.suppress(Exception):
                await uplink.stop()
        self.pipeline.remove_tenant(name)
        self.keys.remove_tenant(name)
        if self.alarms is not None:
            self.alarms.tenants = tuple(self.served_tenants())

    def served_tenants(self) -> list[str]:
        """The tenants served: configured ones, and runtime ones once their share ID was
        presented (a pending tenant hears nothing of the gateway, its alarms included)."""
        return [n for n in self.tenants.names if self.tenants.is_active(n)]

    async def _activated(self, name: str) -> None:
        """A runtime tenant's head-end presented its share ID: its meters are now its."""
        await self.save_access("tenants")
        self.pipeline.reassign()
        if self.alarms is not None:
            self.alarms.tenants = tuple(self.served_tenants())
        log.info("tenant %s presented its share ID: now served", name)

    async def _connect(self, tenant: str) -> None:
        """The tenant's uplink and publisher, started."""
        assert self.store is not None
        settings = self.tenants.config(tenant)

        async def on_command(command: Command) -> Reply | None:
            return await commands.handle(command)  # bound below, before the uplink starts

        async def on_refused(name: str, doc: dict[str, Any], reason: str) -> None:
            await commands.refused(name, doc, reason)

        uplink = MqttUplink(
            self.config.broker_settings(settings),
            gateway_id=self.gateway,
            online_state=lambda: self.online_document(tenant),
            offline_state=self.offline_document,
            message_ids=self.next_id,
            prefix=settings.uplink.prefix,
            codec=codec_named(settings.uplink.codec),
            on_command=on_command,
            on_refused=on_refused,
        )
        feed = None
        if settings.uplink.homeassistant:
            feed = HomeAssistantFeed(
                uplink,
                gateway=self.gateway,
                tenant_prefix=settings.uplink.prefix,
                discovery_prefix=settings.uplink.homeassistant_prefix,
                version=__version__,
            )
        publisher = Publisher(
            tenant,
            self.store,
            uplink,
            window=settings.uplink.max_inflight,
            backlog_rate=settings.uplink.backlog_rate,
            clock=self.clock,
            on_batch=feed.batch_published if feed is not None else None,
        )
        commands = HeadEndCommands(
            tenant,
            self.config.access.headend_role,
            TenantServices(
                status=lambda: self.tenant_status(tenant),
                store=self.store,
                publisher=publisher,
                priority=self.priority,
                visibility=self.visibility,
                keys=self.keys,
                tenants=self.tenants,
                groups=self.groups,
                authority=self.authority,
                keys_changed=self.pipeline.reassign,
                activated=self._activated,
            ),
        )
        self.uplinks[tenant] = uplink
        self.publishers[tenant] = publisher
        self._headends[tenant] = commands
        publisher.start()
        if self.bridge is not None:
            self.bridge.start_sessions(tenant, uplink, publisher, self.store)
        else:
            await uplink.start()

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
        assert self.intervals is not None
        kinds = ["5min"]  # always: priority meters may be set by a command later
        if self.config.schedule.hourly:
            kinds.append("hourly")
        if self.config.schedule.daily:
            kinds.append("daily")
        scheduler = AsyncIOScheduler()
        self.intervals.schedule(scheduler, kinds)
        scheduler.add_job(self.retention, BoundaryTrigger(self.clock, DAY, 3600.0), id="retention")
        every = self.config.visibility.stats_interval
        if every:
            scheduler.add_job(
                self.publish_stats, BoundaryTrigger(self.clock, every, 0.0), id="stats"
            )
        scheduler.start()
        self._scheduler = scheduler

    async def stop(self) -> None:
        """Stop taking frames, publish what can be published quickly, close everything."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        if self._usb is not None:
            self._usb.stop()
        if self.bridge is not None:
            await self.bridge.stop()  # windows and sessions end; the loops below close up
        if self.driver is not None:
            await self.driver.stop()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for bus in self.buses.values():
            await bus.close()
        if self.intervals is not None:
            await self.intervals.stop()  # interval values already taken are stored first
        if self.alarms is not None:
            await self.alarms.cancel()
        if self.watch is not None:
            await self.watch.save()  # reception statistics survive the restart
        if self.writer is not None:
            await self.writer.flush()  # a last try for what waits in memory
            await self.writer.stop()
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
                # One frame that cannot be handled must not stop the reader: log it loudly,
                # count it, and take the next frame.
                self.state.frame_failures += 1
                log.exception("frame from %s could not be handled", driver.port_path)

    async def take_frame(self, frame: RadioFrame) -> None:
        """One frame: intervals that ended before it, then the pipeline; an alarm event is
        stored (or kept in memory until it can be) and its tenant's publisher woken."""
        assert self.intervals is not None
        self.state.last_frame_at = frame.timestamp  # stamped by the driver with our clock
        await self.intervals.frame_arrived(frame.timestamp)
        outcome = self.pipeline.process(frame)
        await self._took(outcome, frame.timestamp)
        if self.tap.watching:
            self.tap.publish(tap_event(frame, outcome))

    async def take_wired(self, answer: WiredAnswer) -> None:
        """One wired meter's answer to a poll: as a radio frame (intervals, pipeline,
        alarm stored, publishers woken), with ``link_mode`` ``"mbus"``."""
        assert self.intervals is not None
        await self.intervals.frame_arrived(answer.timestamp)
        outcome = self.pipeline.process_wired(answer)
        await self._took(outcome, answer.timestamp)
        if self.tap.watching:
            self.tap.publish(tap_event(Heard(answer.timestamp, None, WIRED_LINK_MODE), outcome))

    async def _took(self, outcome: Outcome, when: float) -> None:
        """What follows the pipeline, for radio and wired meters alike."""
        assert self.watch is not None
        meter = outcome.meter
        if meter is not None and meter.reception.silent and not outcome.repeat:
            await self.watch.heard(meter, when)  # METER_SILENT cleared
        if outcome.alarm is not None:
            await self._store_alarm(outcome.alarm)
        if outcome.over_limit and not self.state.meter_limit_raised:
            self._raise_meter_limit(outcome)

    def _served_intervals(self) -> list[float | None]:
        """The transmission intervals of the tenant meters heard (a bridge's windows)."""
        return [m.reception.interval_s for m in self.pipeline.meters.values() if m.tenant]

    def _raise_meter_limit(self, outcome: Any) -> None:
        """``METER_LIMIT``, once: a tenant's meter is beyond ``limits.max_meters``."""
        assert self.alarms is not None
        self.state.meter_limit_raised = True
        meter = outcome.meter.key if outcome.meter is not None else "a meter"
        self.alarms.spawn(
            "METER_LIMIT",
            f"limits.max_meters = {self.pipeline.limit.limit} meters are served: {meter} and "
            "later ones are counted (over_meter_limit) and not collected",
        )

    async def _emit(self, items: list[OutboxItem]) -> None:
        """Documents of the field watch (METER_SILENT alarms, stats): stored, publishers
        woken; alarms also listed for ``concentratorctl alarms``."""
        assert self.writer is not None
        await self.writer.enqueue(items)
        for item in items:
            if item.kind == "alarm":
                self._list_alarm(item)

    async def publish_stats(self) -> None:
        """The ``event/stats`` document of each tenant (on ``visibility.stats_interval``)."""
        assert self.watch is not None
        uptime = int(self.clock() - self.state.started)
        await self.watch.publish_stats(
            self.served_tenants(),
            uptime,
            self.tenant_counters,
            self.bridge.budget if self.bridge is not None else None,
        )

    async def _store_alarm(self, event: AlarmEvent) -> None:
        assert self.writer is not None and self.intervals is not None
        item = alarm_item(
            self.gateway, event, event.previous_status, clock_synchronised=self.intervals.trusted
        )
        # Stored with the flags it reports, or kept in memory with them: never forgotten.
        await self.writer.enqueue([item], meter_status={event.meter_key: event.reading.flags})
        self._list_alarm(item)

    def _list_alarm(self, item: OutboxItem) -> None:
        """A meter's alarm for ``concentratorctl alarms``, from its document."""
        doc = item.document
        self.state.recent_alarms.append(
            {
                "id": doc["id"],
                "tenant": item.tenant,
                "time": doc["timestamp"],
                "status": doc["status"],
                "raised": doc["raised"],
                "cleared": doc["cleared"],
            }
        )

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
            "link_errors": c.link_errors,
            "unassigned": c.unassigned,
            "decode_errors": c.decode_errors,
            "no_key": c.no_key,
            "wrong_key": c.wrong_key,
            "alarms": c.alarms,
            "over_meter_limit": c.over_meter_limit,
            "evicted_meters": c.evicted,
            "meters": len(self.pipeline.meters),
            "batches": self.intervals.batches if self.intervals is not None else 0,
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

    def tenant_counters(self, tenant: str) -> dict[str, int]:
        """One tenant's counters: its own meters' telegrams and outcomes, its publisher's
        figures; nothing of another tenant's (docs/uplink.md, "stats")."""
        c = self.pipeline.tenant_counters[tenant]
        out = {
            "frames": c.frames,
            "readings": c.readings,
            "repeats": c.repeats,
            "decode_errors": c.decode_errors,
            "no_key": c.no_key,
            "wrong_key": c.wrong_key,
            "alarms": c.alarms,
            "meters": sum(1 for m in self.pipeline.meters.values() if m.tenant == tenant),
        }
        publisher = self.publishers.get(tenant)
        if publisher is not None:
            out["published"] = publisher.counters.published
            out["publish_failures"] = publisher.counters.failures
        return out

    def health(self) -> Health:
        """The watchdog's judge of this daemon's loops (concentratord/health.py)."""
        watchdog = self.config.watchdog
        return Health(
            Deadlines(watchdog.radio_silence, watchdog.uplink_stall),
            clock=self.clock,
            # A bridge's radio is quiet while it sleeps and until a window's first telegram.
            last_frame=lambda: max(
                self.state.last_frame_at,
                self.bridge.silence_from() if self.bridge is not None else 0.0,
            ),
            publishing_since=lambda: {
                name: p.publishing_since for name, p in self.publishers.items()
            },
        )

    async def metrics_snapshot(self) -> Snapshot:
        """What ``/metrics`` reports: the status and each tenant's counters (one source
        with ``status``, ``get_status`` and ``event/stats``)."""
        from concentratord.metrics import Snapshot  # prometheus-client only with [metrics]

        status = await self.status()
        tenants = {name: self.tenant_counters(name) for name in self.tenants.names}
        return Snapshot(status, tenants)

    async def tenant_status(self, tenant: str) -> dict[str, Any]:
        """What a tenant's head-end sees of the gateway (``get_status``): the gateway's own
        health, and of the meters, counters and queue only its own."""
        status = await self.status()
        queue = status["queue"]
        mine = queue.get("pending", {}).get(tenant, {})
        status["queue"] = {"pending": mine, "pending_total": sum(mine.values())}
        status["counters"] = self.tenant_counters(tenant)
        status["uplink"] = {tenant: status["uplink"].get(tenant)}
        mine_over = [k for k, t in self.pipeline.limit.refused.items() if t == tenant]
        status["limits"] = {
            "max_meters": self.pipeline.limit.limit,
            "over_limit": len(mine_over),
            "over_limit_meters": mine_over[:100],
        }
        store = status["store"]
        status["store"] = {k: store[k] for k in ("writable", "problem") if k in store}
        if self.bridge is not None:
            status["power"] = self.bridge.budget(tenant)
        for bus in status.get("mbus", ()):  # the port's state; of its meters, its own
            for total in ("polls", "answers", "no_answer"):  # counts other tenants' meters
                bus.pop(total, None)
            bus["meters"] = [
                m for m in bus["meters"] if m["meter"] and self._tenant_of_key(m["meter"]) == tenant
            ]
        return status

    def _tenant_of_key(self, key: str) -> str | None:
        manufacturer, _, meter_id = key.partition(":")
        return self.tenants.owner(meter_id, manufacturer)

    def online_document(self, tenant: str) -> dict[str, Any]:
        """The retained ``online`` state of ``tenant``'s uplink (fresh counters at every
        connect: that tenant's own, as in its stats)."""
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
            counters=self.tenant_counters(tenant),
        )

    def offline_document(self, reason: str) -> dict[str, Any]:
        """The retained ``offline`` state (last will, or on a clean stop)."""
        return messages.offline_state(
            gateway=self.gateway, message_id=self.next_id(), reason=reason
        )

    # -- status ---------------------------------------------------------------------------

    def recent_alarms(self) -> list[dict[str, Any]]:
        """The gateway's own alarms, then the meters' recent ones (``concentratorctl alarms``)."""
        gateway = [
            {"id": self.gateway, "status": a.name, "state": a.state, "detail": a.detail}
            for a in (self.alarms.recent if self.alarms is not None else ())
        ]
        return gateway + list(self.state.recent_alarms)

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
            "limits": self.pipeline.limit.status(),
            "queue": queue,
            "store": self._store_status(),
            "clock": self.intervals.clock_status() if self.intervals is not None else {},
            "gateway_alarms": [a.__dict__ for a in self.alarms.recent] if self.alarms else [],
            **({"power": self.bridge.budget()} if self.bridge is not None else {}),
            **({"mbus": [b.status() for b in self.buses.values()]} if self.buses else {}),
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


def device_key(config: Config) -> bytes | None:
    """The key wrapping the runtime keys file at rest: from the systemd credential
    ``keys.wrap_credential`` or the file ``keys.wrap_key_file`` (None: not wrapped)."""
    from concentratord import keywrap

    if config.keys.wrap_credential is not None:
        return keywrap.read_device_key(
            keywrap.credential_path(config.keys.wrap_credential, os.environ)
        )
    if config.keys.wrap_key_file is not None:
        return keywrap.read_device_key(config.keys.wrap_key_file)
    return None
