"""The live tap's broadcast point (concentratord/tap.py): who sees what, and what is lost."""

from __future__ import annotations

import asyncio

import pytest

from concentratord.tap import Tap, TapBusyError, TapEvent


def event(
    meter_id: str = "12345678", manufacturer: str = "KAM", tenant: str | None = "water", n: int = 0
) -> TapEvent:
    """A tap event with only what the rules look at (and ``n`` to tell them apart)."""
    return {"id": meter_id, "manufacturer": manufacturer, "tenant": tenant, "n": n}


def test_unfiltered_watcher_wants_every_event() -> None:
    watcher = Tap().subscribe()
    assert watcher.wants(event()) and watcher.wants(event(tenant=None))


def test_tenant_watcher_wants_only_its_tenants_events() -> None:
    watcher = Tap().subscribe(tenant="water")
    assert watcher.wants(event(tenant="water"))
    assert not watcher.wants(event(tenant="heat"))


def test_tenant_watcher_does_not_want_meters_of_no_tenant() -> None:
    assert not Tap().subscribe(tenant="water").wants(event(tenant=None))


def test_meter_id_filter_matches_that_id_of_any_manufacturer() -> None:
    watcher = Tap().subscribe(meter="12345678")
    assert watcher.wants(event(manufacturer="KAM")) and watcher.wants(event(manufacturer="LSE"))
    assert not watcher.wants(event(meter_id="87654321"))


def test_man_id_filter_matches_only_that_manufacturer_case_insensitively() -> None:
    watcher = Tap().subscribe(meter="kam:1234abcd")
    assert watcher.wants(event(meter_id="1234ABCD", manufacturer="KAM"))
    assert not watcher.wants(event(meter_id="1234ABCD", manufacturer="LSE"))


def test_tenant_and_meter_filters_must_both_hold() -> None:
    watcher = Tap().subscribe(tenant="water", meter="12345678")
    assert not watcher.wants(event(tenant="heat"))
    assert not watcher.wants(event(meter_id="87654321"))


def test_offer_to_a_full_queue_drops_the_oldest_and_counts_it() -> None:
    watcher = Tap().subscribe(queue_size=3)
    for n in range(5):
        watcher.offer(event(n=n))
    assert [watcher.queue.get_nowait()["n"] for _ in range(3)] == [2, 3, 4]
    assert watcher.dropped == 2


def test_publish_reaches_only_watchers_that_want_the_event() -> None:
    tap = Tap()
    water, heat = tap.subscribe(tenant="water"), tap.subscribe(tenant="heat")
    tap.publish(event(tenant="water"))
    assert (water.queue.qsize(), heat.queue.qsize()) == (1, 0)


def test_subscription_iterates_the_events_in_order() -> None:
    tap = Tap()

    async def main() -> list[int]:
        watcher = tap.subscribe()
        for n in range(3):
            tap.publish(event(n=n))
        got = []
        async for item in watcher:
            got.append(item["n"])
            if len(got) == 3:
                break
        return got

    assert asyncio.run(main()) == [0, 1, 2]


def test_one_watcher_more_than_the_maximum_is_refused() -> None:
    tap = Tap(max_watchers=2)
    tap.subscribe()
    tap.subscribe()
    with pytest.raises(TapBusyError):
        tap.subscribe()


def test_a_closed_watcher_frees_its_place() -> None:
    tap = Tap(max_watchers=1)
    tap.subscribe().close()
    tap.subscribe()  # not refused


def test_closing_a_subscription_twice_is_harmless() -> None:
    tap = Tap()
    kept, closed = tap.subscribe(), tap.subscribe()
    closed.close()
    closed.close()
    assert tap.watching
    kept.close()
    assert not tap.watching


def test_a_subscription_used_as_a_context_manager_closes_on_exit() -> None:
    tap = Tap()
    with tap.subscribe():
        assert tap.watching
    assert not tap.watching
