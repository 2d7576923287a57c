"""``python -m bench [SCENARIO...]``: run benchmark scenarios, write bench/results/*.json."""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    daemon_field,
    decode_throughput,
    disk,
    mbus_master,
    radio_rate,
    tenancy_cost,
    uplink_bytes,
    visibility_cost,
)

SCENARIOS: dict[str, Callable[[], dict[str, Any]]] = {
    "decode": decode_throughput.main,
    "radio": radio_rate.main,
    "disk": disk.main,
    "uplink": uplink_bytes.main,
    "field": daemon_field.field_main,
    "alarm_latency": daemon_field.alarm_latency_main,
    "drain": daemon_field.drain_main,
    "visibility": visibility_cost.main,
    "tenancy": tenancy_cost.main,
    "mbus": mbus_master.main,
}


def main(argv: list[str]) -> int:
    names = argv or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
        return 2
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    for name in names:
        result = SCENARIOS[name]()
        result["machine"] = {"python": platform.python_version(), "cpu": platform.processor()}
        result["when"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        (out_dir / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
