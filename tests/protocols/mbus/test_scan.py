"""The wildcard tree scan against simulated buses: every slave found exactly once.

Probe count. A probe with a pattern collides when two or more slaves match it; each
collision costs the probes of its children: 10 for a wildcard id digit, one per
manufacturer candidate (m) once the id is given, 255 (0x00-0xFE) for the version, then the
medium. So ``probes = 1 + sum(children of every colliding pattern)``, which
:func:`expected_probes` computes from the slaves alone, independently of the scan.

Bound. Colliding patterns of one level are disjoint and each holds at least two slaves,
so a level has at most ``min(10**d, N // 2)`` of them (d = fixed id digits). An id shared
by k >= 2 slaves costs at most m probes, plus 255 for each colliding (id, manufacturer)
and for each colliding (id, manufacturer, version), fewer than k of each. Hence, with c
the number of ids shared by two or more slaves (c <= N // 2) and K the slaves sharing one,

    probes <= 1 + 10 * sum(min(10**d, N // 2) for d in 0..7) + c * m + 2 * 255 * (K - c)

which is 7,361 for 250 slaves with distinct ids, whatever the ids. The scan needs at least
N + 1 probes (one clean answer per slave and the root), the lower bound it is compared to.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence

import pytest

from protocols.mbus import SecondaryAddress, SecondaryScan, matches
from protocols.mbus.secondary import Outcome, all_manufacturers
from protocols.wmbus.address import manufacturer_field

Bus = Sequence[SecondaryAddress]
Answer = tuple[Outcome, SecondaryAddress | None]
CODES = ["KAM", "ABB", "ELS", "SEN", "LUG", "ZRI", "SON", "ITW", "HYD", "EMH"]
MANUFACTURERS = [manufacturer_field(c) for c in CODES]


def simulated_bus(slaves: Bus) -> Callable[[SecondaryAddress], Answer]:
    """The bus as a pure function: what a selection with a pattern brings back."""

    def probe(pattern: SecondaryAddress) -> Answer:
        hits = [s for s in slaves if matches(s, pattern)]
        if not hits:
            return Outcome.NONE, None
        if len(hits) == 1:
            return Outcome.ONE, hits[0]
        return Outcome.COLLISION, None

    return probe


def run_scan(slaves: Bus, manufacturers: Sequence[int] | None = MANUFACTURERS) -> SecondaryScan:
    scan = SecondaryScan(manufacturers=manufacturers)
    probe = simulated_bus(slaves)
    while (pattern := scan.next_pattern()) is not None:
        scan.report(*probe(pattern))
    return scan


def expected_probes(slaves: Bus, m: int) -> int:
    """The probes the tree of these slaves costs (see the module docstring)."""
    probes = 1
    for digits in range(8):
        groups = Counter(s.id[:digits] for s in slaves)
        probes += 10 * sum(1 for n in groups.values() if n >= 2)
    keys: list[Callable[[SecondaryAddress], tuple[object, ...]]] = [
        lambda s: (s.id,),
        lambda s: (s.id, s.manufacturer),
        lambda s: (s.id, s.manufacturer, s.version),
    ]
    for key, children in zip(keys, (m, 255, 255), strict=True):
        groups2 = Counter(key(s) for s in slaves)
        probes += children * sum(1 for n in groups2.values() if n >= 2)
    return probes


def probe_bound(slaves: Bus, m: int) -> int:
    """The upper bound of the module docstring."""
    n = len(slaves)
    shared = [k for k in Counter(s.id for s in slaves).values() if k >= 2]
    c, k_total = len(shared), sum(shared)
    return 1 + 10 * sum(min(int(10**d), n // 2) for d in range(8)) + c * m + 2 * 255 * (k_total - c)


def random_ids(rng: random.Random, count: int) -> list[str]:
    return [f"{i:08d}" for i in rng.sample(range(10**8), count)]


def assert_all_found_once(scan: SecondaryScan, slaves: Bus) -> None:
    assert len(scan.found) == len(set(scan.found))
    assert set(scan.found) == set(slaves)
    assert not scan.unresolved and not scan.unexplained
    assert scan.done


def test_250_random_slaves() -> None:
    rng = random.Random(13)
    slaves = [SecondaryAddress.of(i, rng.choice(CODES), 1, 7) for i in random_ids(rng, 250)]
    scan = run_scan(slaves)
    assert_all_found_once(scan, slaves)
    bound = probe_bound(slaves, len(MANUFACTURERS))
    print(f"250 random ids: {scan.probes} probes (minimum 251, bound {bound})")
    assert bound == 7361
    assert scan.probes == expected_probes(slaves, len(MANUFACTURERS))
    assert 251 <= scan.probes <= bound


def test_ids_equal_but_in_the_last_digit() -> None:
    rng = random.Random(7)
    prefixes = [p[:7] for p in random_ids(rng, 25)]
    slaves = [SecondaryAddress.of(f"{p}{d}", "KAM", 1, 7) for p in prefixes for d in range(10)]
    scan = run_scan(slaves)
    assert_all_found_once(scan, slaves)
    bound = probe_bound(slaves, len(MANUFACTURERS))
    print(f"25 x 10 ids differing in the last digit: {scan.probes} probes (bound {bound})")
    assert scan.probes == expected_probes(slaves, len(MANUFACTURERS))
    assert 251 <= scan.probes <= bound


def test_same_id_different_manufacturers() -> None:
    slaves = [SecondaryAddress.of("12345678", code, 1, 7) for code in CODES[:5]]
    scan = run_scan(slaves)
    assert_all_found_once(scan, slaves)
    assert scan.probes == expected_probes(slaves, len(MANUFACTURERS))


def test_same_id_different_manufacturers_without_candidates() -> None:
    # The default tries every three-letter code: complete, at 26**3 probes per colliding id.
    slaves = [SecondaryAddress.of("12345678", code, 1, 7) for code in ("AAA", "KAM", "ZZZ")]
    scan = run_scan(slaves, manufacturers=None)
    assert_all_found_once(scan, slaves)
    assert scan.probes == expected_probes(slaves, len(all_manufacturers()))


def test_same_id_and_manufacturer_different_versions_and_media() -> None:
    slaves = [
        SecondaryAddress.of("87654321", "KAM", version, medium)
        for version, medium in ((1, 7), (2, 7), (1, 6), (3, 2), (0, 0), (0xFE, 0xFE))
    ]
    scan = run_scan(slaves)
    assert_all_found_once(scan, slaves)
    assert scan.probes == expected_probes(slaves, len(MANUFACTURERS))


def test_250_slaves_with_every_adversarial_collision() -> None:
    rng = random.Random(2026)
    slaves: list[SecondaryAddress] = []
    slaves += [SecondaryAddress.of(f"5555555{d}", "KAM", 1, 7) for d in range(10)]
    slaves += [SecondaryAddress.of("12345678", code, 1, 7) for code in CODES]
    slaves += [SecondaryAddress.of("87654321", "ABB", v, m) for v in (1, 2, 3) for m in (2, 4, 7)]
    taken = {s.id for s in slaves}
    fill = [i for i in random_ids(rng, 300) if i not in taken][: 250 - len(slaves)]
    slaves += [SecondaryAddress.of(i, rng.choice(CODES), rng.randrange(4), 7) for i in fill]
    assert len(slaves) == len(set(slaves)) == 250
    rng.shuffle(slaves)
    scan = run_scan(slaves)
    assert_all_found_once(scan, slaves)
    bound = probe_bound(slaves, len(MANUFACTURERS))
    print(
        f"250 adversarial slaves: {scan.probes} probes, {scan.collisions} collisions, bound {bound}"
    )
    assert scan.probes == expected_probes(slaves, len(MANUFACTURERS))
    assert 251 <= scan.probes <= bound


def test_most_significant_digit_first() -> None:
    scan = SecondaryScan()
    assert scan.next_pattern() == SecondaryAddress("FFFFFFFF")
    scan.report(Outcome.COLLISION)
    assert scan.next_pattern() == SecondaryAddress("0FFFFFFF")
    scan.report(Outcome.NONE)
    assert scan.next_pattern() == SecondaryAddress("1FFFFFFF")


def test_same_pattern_until_reported() -> None:
    scan = SecondaryScan()
    first = scan.next_pattern()
    assert scan.next_pattern() == first and scan.probes == 1


def test_empty_bus_costs_one_probe() -> None:
    scan = run_scan([])
    assert scan.found == [] and scan.probes == 1 and scan.done


def test_answer_outside_the_pattern_is_a_collision() -> None:
    scan = SecondaryScan()
    scan.next_pattern()
    scan.report(Outcome.COLLISION)
    scan.next_pattern()  # 0FFFFFFF
    scan.report(Outcome.ONE, SecondaryAddress.of("12345678", "KAM", 1, 7))
    assert scan.found == [] and scan.next_pattern() == SecondaryAddress("00FFFFFF")


def test_identical_addresses_are_unresolved() -> None:
    twin = SecondaryAddress.of("12345678", "KAM", 1, 7)
    scan = run_scan([twin, twin])
    assert scan.found == [] and scan.unresolved == [twin]


def test_consecutive_serials_most_significant_digit_first_is_cheaper() -> None:
    slaves = [SecondaryAddress.of(f"{12345000 + i:08d}", "KAM", 1, 7) for i in range(250)]
    scan = run_scan(slaves)
    assert_all_found_once(scan, slaves)
    # The same walk over the reversed ids is the least-significant-first walk of these.
    mirrored = [SecondaryAddress.of(s.id[::-1], "KAM", 1, 7) for s in slaves]
    reverse = run_scan(mirrored)
    assert_all_found_once(reverse, mirrored)
    print(f"250 consecutive ids: {scan.probes} probes MSD first, {reverse.probes} LSD first")
    assert (scan.probes, reverse.probes) == (341, 1111)


def test_slave_with_wildcard_version_is_unexplained_not_lost_silently() -> None:
    slaves = [SecondaryAddress.of("12345678", "KAM", v, 7) for v in (1, 0xFF)]
    scan = run_scan(slaves)
    assert scan.found == [slaves[0]]
    assert scan.unexplained == [SecondaryAddress.of("12345678", "KAM")]


def test_garbled_single_answer_is_unexplained() -> None:
    alone = SecondaryAddress.of("12345678", "KAM", 1, 7)
    probe = simulated_bus([alone])
    scan = SecondaryScan()
    first = scan.next_pattern()
    assert first is not None and probe(first)[0] is Outcome.ONE
    scan.report(Outcome.COLLISION)  # noise garbled the one E5
    while (pattern := scan.next_pattern()) is not None:
        scan.report(*probe(pattern))
    assert scan.found == [alone] and scan.unexplained == [SecondaryAddress("FFFFFFFF")]


def test_report_without_pattern_is_refused() -> None:
    with pytest.raises(RuntimeError):
        SecondaryScan().report(Outcome.NONE)


def test_scan_of_a_sub_range() -> None:
    inside = [SecondaryAddress.of(f"1234{i:04d}", "KAM", 1, 7) for i in (0, 1, 500, 9999)]
    outside = [SecondaryAddress.of("12350000", "KAM", 1, 7)]
    scan = SecondaryScan(start=SecondaryAddress("1234FFFF"), manufacturers=MANUFACTURERS)
    probe = simulated_bus(inside + outside)
    while (pattern := scan.next_pattern()) is not None:
        scan.report(*probe(pattern))
    assert sorted(scan.found, key=lambda s: s.id) == inside
