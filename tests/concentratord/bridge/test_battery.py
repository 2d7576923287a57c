"""The battery bridge's loops together: the power budget a tenant sees is its own."""

from __future__ import annotations

import asyncio
from typing import Any

from concentratord.bridge.battery import BatteryBridge
from concentratord.clock import ScaledClock
from concentratord.config.bridge import BridgeConfig


class Uplink:
    def __init__(self) -> None:
        self.connected = asyncio.Event()

    async def start(self) -> None:
        self.connected.set()

    async def stop(self, reason: str = "stopped") -> None:
        self.connected.clear()


class Publisher:
    def __init__(self) -> None:
        self.wake = asyncio.Event()
        self.idle = True


class Store:
    async def pending(self, limit: int, tenant: str) -> list[Any]:
        return []


def test_a_tenant_sees_only_its_own_sessions_in_the_budget() -> None:
    async def main() -> dict[str, Any]:
        bridge = BatteryBridge(BridgeConfig(), ScaledClock(1.0))
        for tenant in ("a", "b"):
            bridge.start_sessions(tenant, Uplink(), Publisher(), Store())  # type: ignore[arg-type]
        await asyncio.sleep(0.01)
        try:
            return bridge.budget("a")
        finally:
            await bridge.stop()

    budget = asyncio.run(main())
    assert set(budget["uplink_sessions"]) == {"a"}


def test_without_a_radio_everything_counts_as_listened() -> None:
    bridge = BatteryBridge(BridgeConfig(), ScaledClock(1.0))
    assert bridge.listened(100.0, 160.0) == 60.0
    assert bridge.silence_from() == 0.0
