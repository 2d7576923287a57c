"""The priority meters: replaced per tenant, bounded, never another tenant's."""

from __future__ import annotations

import pytest

from concentratord.priority import PriorityError, PriorityMeters

OWNERS = {"11111111": "a", "22222222": "a", "33333333": "b"}


def meters(*ids: str, limit: int = 50) -> PriorityMeters:
    return PriorityMeters(ids, OWNERS.get, limit)


def test_a_tenant_replaces_its_own_priority_meters_and_keeps_the_others() -> None:
    priority = meters("11111111", "33333333")
    assert priority.replace("a", ["22222222"]) == {"22222222"}
    assert priority.meters == {"22222222", "33333333"}


def test_another_tenants_meter_is_refused_naming_it() -> None:
    with pytest.raises(PriorityError, match="33333333"):
        meters().replace("a", ["33333333"])


def test_more_than_the_limit_is_refused() -> None:
    with pytest.raises(PriorityError, match="at most 1 priority meters"):
        meters(limit=1).replace("a", ["11111111", "22222222"])


def test_the_limit_is_per_gateway_across_tenants() -> None:
    priority = meters("33333333", limit=2)
    with pytest.raises(PriorityError, match="per gateway"):
        priority.replace("a", ["11111111", "22222222"])
    assert priority.meters == {"33333333"}
