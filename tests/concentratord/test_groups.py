"""Meter groups: the gateway's or one tenant's, members checked, seen only in scope."""

from __future__ import annotations

import pytest

from concentratord.groups import GroupError, MeterGroups

OWNERS = {"10000001": "water", "10000002": "water", "20000001": "heat"}


def groups() -> MeterGroups:
    return MeterGroups(OWNERS.get)


def test_a_group_holds_the_meters_added() -> None:
    g = groups()
    g.create("block-7", None, None)
    g.add("block-7", ["10000001", "kam:20000001"], None)
    assert g.members("block-7", None) == ["10000001", "KAM:20000001"]


def test_a_meter_may_be_in_several_groups() -> None:
    g = groups()
    for name in ("a", "b"):
        g.create(name, None, None)
        g.add(name, ["10000001"], None)
    assert g.members("a", None) == g.members("b", None) == ["10000001"]


def test_a_tenant_group_refuses_another_tenants_meter() -> None:
    g = groups()
    g.create("pumps", "water", None)
    with pytest.raises(GroupError, match="not a meter of tenant water"):
        g.add("pumps", ["10000001", "20000001"], None)
    assert g.members("pumps", None) == []  # all or nothing


def test_another_tenants_group_does_not_exist_for_a_tenant() -> None:
    g = groups()
    g.create("pumps", "water", None)
    with pytest.raises(GroupError, match="no group 'pumps'"):
        g.members("pumps", "heat")
    assert g.listing("heat") == []


def test_a_malformed_member_is_refused() -> None:
    g = groups()
    g.create("x", None, None)
    with pytest.raises(GroupError, match="not a meter id"):
        g.add("x", ["1234"], None)


def test_groups_survive_dump_and_load() -> None:
    g = groups()
    g.create("pumps", "water", None)
    g.add("pumps", ["10000002"], None)
    again = groups()
    again.load(g.dump())
    assert again.listing(None) == [{"name": "pumps", "tenant": "water", "meters": 1}]


def test_removing_a_meter_keeps_the_others() -> None:
    g = groups()
    g.create("x", None, None)
    g.add("x", ["10000001", "10000002"], None)
    assert g.remove("x", ["10000001", "30000000"], None) == ["10000001"]
    assert g.members("x", None) == ["10000002"]
