"""``concentratord simulate``: a simulated meter field behind an emulated module on a pty.

Prints one line on stdout, ``pty: PATH``, once the emulated module is plugged in: the path
a gateway (``concentratord listen --port PATH``) opens. With ``--mbus-slaves N`` an
emulated M-Bus level converter with N slaves (primary addresses 1-N) runs beside it, and
``mbus pty: PATH`` comes first. Runs until SIGINT or SIGTERM and
exits 0. Logs (the field's make-up and delivery statistics) go to stderr.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass
from types import FrameType

from radio.sim.field import DEFAULT_MIX, Field, FieldConfig
from radio.sim.mbus_bus import MbusBusEmulator, demo_fleet
from radio.sim.registry import emulator_class
from radio.sim.runner import FieldRunner

log = logging.getLogger("concentratord.simulate")


@dataclass(frozen=True, slots=True)
class SimulateOptions:
    """The command line of ``concentratord simulate``."""

    meters: int
    module: str
    mode: str = "fixed"
    speed: float = 1.0
    seed: int = 0
    keys_out: str | None = None
    link: str | None = None
    loss: float = 0.0
    alarm_rate: float = 0.0
    collisions: bool = True
    mix: str | None = None
    stats_every: float = 10.0
    mbus_slaves: int = 0  # an emulated wired bus with this many slaves (0: none)
    mbus_link: str | None = None


def parse_mix(text: str) -> dict[str, float]:
    """``water=0.7,heat=0.3`` -> ``{"water": 0.7, "heat": 0.3}``."""
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, sep, share = part.partition("=")
        if not sep:
            raise ValueError(f"--mix: {part!r} is not KIND=SHARE")
        mix[name.strip()] = float(share)
    return mix


def run_simulate(opts: SimulateOptions) -> int:
    """Run the simulator until SIGINT/SIGTERM; 0 then, 2 on bad arguments."""
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    try:
        config = FieldConfig(
            meters=opts.meters,
            mode=opts.mode,
            seed=opts.seed,
            mix=parse_mix(opts.mix) if opts.mix else dict(DEFAULT_MIX),
            loss=opts.loss,
            alarm_rate=opts.alarm_rate,
            collisions=opts.collisions,
            # Meter dates and day profiles follow the wall clock; ids and keys the seed.
            epoch=float(int(time.time())),
            truth_depth=0,
        )
        field = Field(config)
        emulator = emulator_class(opts.module)(opts.link)
        bus = (
            MbusBusEmulator(demo_fleet(opts.mbus_slaves, opts.seed), link_path=opts.mbus_link)
            if opts.mbus_slaves
            else None
        )
    except (ValueError, KeyError, ImportError) as err:
        print(f"concentratord simulate: {err}", file=sys.stderr)
        return 2
    if opts.keys_out is not None:
        try:
            with open(opts.keys_out, "w", encoding="utf-8") as f:
                f.write(field.keys_text())
        except OSError as err:
            print(f"concentratord simulate: {opts.keys_out}: {err.strerror}", file=sys.stderr)
            return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    kinds: dict[str, int] = {}
    for m in field.meters:
        kinds[m.kind.name] = kinds.get(m.kind.name, 0) + 1
    log.info(
        "%d meters (%s), %s mode, seed %d, speed %gx",
        len(field.meters),
        kinds,
        config.mode,
        config.seed,
        opts.speed,
    )
    emulator.start()
    if bus is not None:
        bus.start()
        log.info("wired bus: %d slaves at primary addresses 1-%d", len(bus.slaves), len(bus.slaves))
    runner = FieldRunner(field, emulator, time.monotonic, speed=opts.speed)
    try:
        if bus is not None:
            sys.stdout.write(f"mbus pty: {bus.path}\n")
        sys.stdout.write(f"pty: {emulator.path}\n")
        sys.stdout.flush()
        runner.start()
        while not stop.wait(opts.stats_every):
            log.info(
                "t=%.0fs delivered %d, lost on air %d, not heard %d, not delivered %d",
                runner.sim_now(),
                runner.delivered,
                runner.lost_on_air,
                runner.not_heard,
                runner.not_delivered,
            )
    finally:
        # Closing the emulator first frees a runner blocked writing to a pty nobody reads.
        runner.request_stop()
        emulator.close()
        runner.stop()
        if bus is not None:
            bus.stop()
    log.info("stopped after %d telegrams delivered", runner.delivered)
    return 0
