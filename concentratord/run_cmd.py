"""``concentratord run --config FILE``: the daemon in the foreground, as systemd runs it.

Exit status: 0 after SIGTERM/SIGINT, 1 when start-up fails (no radio, no store), 2 when
the configuration is refused (systemd's RestartPreventExitStatus=2: restarting would not
help). With ``--status`` a one-line status goes to stderr every second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from concentratord.config import Config, ConfigError, load_config

if TYPE_CHECKING:  # imported when run, so that `concentratord --help` starts fast
    from concentratord.access import Caller
    from concentratord.control import Peer
    from concentratord.daemon import Daemon
    from concentratord.metrics import MetricsServer
    from concentratord.web import WebServer

log = logging.getLogger("concentratord")


def status_line(status: dict[str, Any]) -> str:
    """The live one-liner: meters heard, alarms, queue depth, last publish."""
    counters = status["counters"]
    queue = status.get("queue", {})
    pending = queue.get("pending_total", queue.get("pending", "?"))
    if isinstance(pending, dict):
        pending = sum(v for v in pending.values() if isinstance(v, int))
    uplinks = status["uplink"]
    connected = sum(1 for u in uplinks.values() if u["connected"])
    published = sum(u["published"] for u in uplinks.values())
    return (
        f"{status['time'][:19]}  meters {counters['meters']}  telegrams {counters['frames']}"
        f"  readings {counters['readings']}  alarms {counters['alarms']}"
        f"  batches {counters['batches']}  queue {pending}  published {published}"
        f"  broker {connected}/{len(uplinks)}"
    )


async def _run(config: Config, config_file: str, show_status: bool, fixed_level: bool) -> int:
    from concentratord.control import ControlServer
    from concentratord.control_commands import ControlContext, commands
    from concentratord.daemon import Daemon
    from concentratord.keystore import KeyImportError
    from concentratord.keywrap import KeyWrapError
    from concentratord.reload import Reloader
    from concentratord.store import StoreWriteError
    from radio.driver import ModuleError

    try:
        daemon = Daemon(config, config_file)
    except (KeyImportError, KeyWrapError, OSError) as err:
        # The runtime keys cannot be read (unwrapped): running without them would
        # silently stop decoding the meters imported at run time.
        log.error("start-up failed: %s", err)
        print(f"concentratord: start-up failed: {err}", file=sys.stderr, flush=True)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    notify = _notifier()
    try:
        await daemon.start()
    except (ModuleError, OSError, StoreWriteError) as err:
        # StoreWriteError: the store is sound but cannot be written (read-only, immutable,
        # I/O error); it is left exactly as it is, for a restart once that is fixed.
        log.error("start-up failed: %s", err)
        print(f"concentratord: start-up failed: {err}", file=sys.stderr, flush=True)
        await daemon.stop()
        return 1

    def apply(wanted: Config) -> None:
        daemon.apply_config(wanted)
        if not fixed_level:  # --log-level outranks the file, also after a reload
            logging.getLogger().setLevel(wanted.log.level.upper())

    reloader = Reloader(config_file, lambda: daemon.config, apply, daemon.authority)
    from concentratord.access import Caller

    # Who a reload by signal is, for the audit trail (asyncio does not say who sent it;
    # only root or the daemon's own user can).
    sighup = Caller("signal:SIGHUP", "administrator", "local")
    loop.add_signal_handler(signal.SIGHUP, lambda: _spawn(reloader.reload(sighup)))
    control = ControlServer(
        config.control.socket,
        commands(
            ControlContext(
                status=daemon.status,
                meters=daemon.pipeline.meters,
                visibility=daemon.visibility,
                alarms=daemon.recent_alarms,
                store=lambda: daemon.store,
                keys=daemon.keys,
                tenants=daemon.tenants,
                groups=daemon.groups,
                authority=daemon.authority,
                config=lambda: daemon.config,
                config_file=config_file,
                reload=lambda caller: reloader.reload(caller, audit=False),
                tap=daemon.tap,
                keys_changed=daemon.pipeline.reassign,
                save=daemon.save_access,
                add_tenant=daemon.add_tenant,
                remove_tenant=daemon.remove_tenant,
                buses=daemon.buses,
                decode_wired=daemon.decode_wired,
            )
        ),
        local_caller(lambda: daemon.config),
        daemon.authority,
        mode=config.control.socket_mode,
    )
    try:
        await control.start()
    except OSError as err:
        log.warning("control socket %s not available: %s", config.control.socket, err)
    web = await _start_web(config, daemon)
    metrics = await _start_metrics(config, daemon)
    notify("READY=1")
    log.info("concentratord %s running as gateway %s", config.gateway.profile, config.gateway.id)
    watchdog_s = int(os.environ.get("WATCHDOG_USEC", "0")) / 2e6
    tick = min(1.0, watchdog_s) if watchdog_s else 1.0
    health = daemon.health()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), tick)
        # Only while the radio and every uplink make progress: systemd restarts a daemon
        # whose loop runs but whose gateway does not work (concentratord/health.py).
        if health.check() is None:
            notify("WATCHDOG=1")
        if show_status:
            print(status_line(await daemon.status()), file=sys.stderr, flush=True)
    notify("STOPPING=1")
    if web is not None:
        await web.stop()
    if metrics is not None:
        await metrics.stop()
    await control.stop()
    await daemon.stop()
    return 0


async def _start_web(config: Config, daemon: Daemon) -> WebServer | None:
    """The web page and API when ``[web]`` is configured. One that cannot start (a token
    file unreadable, the port taken) is logged and left off: collection goes on."""
    if config.web is None:
        return None
    from concentratord.web import TokenFileError, WebServer

    web = WebServer(
        config.web, daemon.visibility, daemon.tap, daemon.state.started, daemon.authority
    )
    try:
        await web.start()
    except (TokenFileError, OSError) as err:
        log.error("web server not started: %s", err)
        await web.stop()
        return None
    return web


async def _start_metrics(config: Config, daemon: Daemon) -> MetricsServer | None:
    """``/metrics`` when ``[metrics]`` is configured; one that cannot listen is logged and
    left off: collection goes on."""
    if config.metrics is None:
        return None
    from concentratord.metrics import MetricsServer

    server = MetricsServer(config.metrics.host, config.metrics.port, daemon.metrics_snapshot)
    try:
        await server.start()
    except OSError as err:
        log.error("metrics not served on %s: %s", config.metrics.listen, err)
        return None
    return server


def local_caller(config: Callable[[], Config]) -> Callable[[Peer], Caller]:
    """How the control socket names a peer: its user name, its role from ``[access]`` of
    the running configuration (a reload may change it)."""
    from concentratord.access import Caller
    from concentratord.access.identity import local_user_name

    def identify(peer: Peer) -> Caller:
        role = config().access.role_of(peer.uid, peer.gids)
        return Caller(local_user_name(peer.uid), role, "local")

    return identify


_background: set[asyncio.Task[Any]] = set()


def _spawn(job: Coroutine[Any, Any, Any]) -> None:
    """Run a signal's job in the loop; its refusal is logged and audited by the job."""
    task = asyncio.ensure_future(job)
    _background.add(task)

    def done(t: asyncio.Task[Any]) -> None:
        _background.discard(t)
        if not t.cancelled() and t.exception() is not None:
            log.debug("signal job ended: %s", t.exception())

    task.add_done_callback(done)


def _notifier() -> Any:
    if not os.environ.get("NOTIFY_SOCKET"):
        return lambda _message: None
    import sdnotify

    return sdnotify.SystemdNotifier().notify


def run_daemon(config_file: str, show_status: bool, log_level: str | None = None) -> int:
    """Entry point for ``concentratord run``: the log at ``log_level`` (else ``log.level``)."""
    from concentratord.logs import setup_logging

    setup_logging(log_level or "info")  # until the configuration says otherwise
    try:
        config = load_config(config_file)
    except ConfigError as err:
        print(f"concentratord: {err}", file=sys.stderr)
        return 2
    setup_logging(log_level or config.log.level)
    try:
        return asyncio.run(_run(config, config_file, show_status, log_level is not None))
    except ConfigError as err:
        print(f"concentratord: {err}", file=sys.stderr)
        return 2
