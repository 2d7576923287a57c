"""What the visibility statistics cost at 30,000 meters, in process (issue 9).

- **per telegram**: CPU time of ``Reception.heard`` (the only work the statistics add to a
  telegram), meters taken round robin so that each call finds a cold object, as in the field;
  and of ``Tap.publish`` guarded by ``Tap.watching`` with nobody watching.
- **memory**: bytes allocated per meter for its ``Reception`` after 40 telegrams
  (tracemalloc), i.e. what the statistics add to a meter's state.
- **answers**: CPU time to build every row (``Visibility.rows``, what the web API, the MQTT
  command and ``concentratorctl visible`` serialise), to look for silent meters (every 30 s
  of gateway time), and to save the statistics blob (every 6 hours and at stop).

The web server's answer time for the full list over HTTP, and the daemon's CPU and RSS with
the statistics and the web server on, come from the ``field`` scenario (daemon_field.py).
"""

from __future__ import annotations

import gc
import random
import time
import tracemalloc
from typing import Any

METERS = 30_000
TELEGRAMS = 40  # per meter before anything is measured: gaps and buckets are full
INTERVAL_S = 96.0
T0 = 1_798_761_600.0


def _meters() -> list[Any]:
    from concentratord.pipeline import MeterState
    from concentratord.reception import Reception

    rng = random.Random(1)
    out = []
    for n in range(METERS):
        reception = Reception(86_400.0)
        out.append(MeterState(f"{n:08d}", "KAM", "default", 0x16, reception))
    for k in range(TELEGRAMS):
        for m in out:
            m.reception.heard(T0 + k * INTERVAL_S + rng.uniform(-2, 2), -80.0, "c1")
    return out


def _cpu(fn: Any, repeat: int = 1) -> float:
    t0 = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - t0) / repeat


def main() -> dict[str, Any]:
    """Scenario ``visibility``."""
    from concentratord.reception import Reception
    from concentratord.tap import Tap
    from concentratord.visibility import Visibility, dump_statistics

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    receptions = [Reception(86_400.0) for _ in range(METERS)]
    for k in range(TELEGRAMS):
        for r in receptions:
            r.heard(T0 + k * INTERVAL_S, -80.0, "c1")
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    per_meter = sum(s.size_diff for s in after.compare_to(before, "filename")) / METERS
    del receptions

    meters = _meters()
    when = T0 + TELEGRAMS * INTERVAL_S

    def telegrams() -> None:
        for m in meters:
            m.reception.heard(when, -79.5, "c1")

    heard_us = _cpu(telegrams) / METERS * 1e6
    tap = Tap()
    event = {"id": "00000001"}

    def taps() -> None:
        for _ in range(METERS):
            if tap.watching:
                tap.publish(event)

    tap_us = _cpu(taps) / METERS * 1e6
    view = Visibility(
        {m.key: m for m in meters}, clock=lambda: when + 60, good_rate=0.8, silent_after=12
    )
    rows_ms = _cpu(lambda: view.rows(None), 3) * 1000
    silent_ms = _cpu(view.newly_silent, 3) * 1000
    t0 = time.process_time()
    blob = dump_statistics(meters)
    save_ms = (time.process_time() - t0) * 1000
    result = {
        "meters": METERS,
        "heard_us_per_telegram": round(heard_us, 2),
        "tap_us_per_telegram_unwatched": round(tap_us, 3),
        "reception_bytes_per_meter": round(per_meter),
        "rows_ms_all_meters": round(rows_ms, 1),
        "silent_check_ms": round(silent_ms, 1),
        "save_ms": round(save_ms, 1),
        "saved_bytes": len(blob),
    }
    print(
        f"visibility: {METERS} meters: {heard_us:.2f} us CPU per telegram for the statistics, "
        f"{tap_us:.3f} us for the unwatched tap; {per_meter:.0f} B per meter; every row "
        f"{rows_ms:.0f} ms, a silent-meter check {silent_ms:.1f} ms, a save {save_ms:.0f} ms "
        f"({len(blob) / 1e6:.2f} MB)",
        flush=True,
    )
    return result
