"""Scans of a 250-slave bus: the master on a real pty, the slaves in the emulator.

Secondary scan: 250 slaves chosen to make the wildcard tree scan collide in every way it
can (EN 13757-3 selection by pattern, merged answers as the current-modulated line ORs
them): ids equal in all but the last digit, one id under several manufacturers, one id and
manufacturer under several versions and media, and random ids around them. Every slave
must be found exactly once, and the scan on the wire must cost the probes of the pure scan
model (tests/protocols/mbus/test_scan.py): no probe lost to the line or repeated.

Primary scan: 250 slaves at primary addresses 0-249, the sweep over 0-250 (all of them).

The emulated slaves answer within a millisecond or two (16 ms at worst with both cores of
the development VM busy), so the master waits :data:`WINDOW_S` for an answer instead of the
standard's 330 bit times + 50 ms + the USB margin (184 ms at 9600 baud): the secondary
scan's 1,711 probes (2,083 requests), about 1,340 of them silent, take about 55 s instead
of four minutes. An answer later than that (a loaded machine: seen once in a full test run
at 25 ms) makes a collision unexplained, and the master walks that subtree again
(``rescanned``): the slaves are still all found, at the cost of the second walk.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest

from bus.master import MbusMaster, SecondaryScanResult, SlaveInfo
from bus.transport import BusTransport
from protocols.mbus.secondary import build_secondary
from protocols.wmbus.address import manufacturer_field
from radio.sim.mbus_bus import EmulatedSlave, MbusBusEmulator
from tests.protocols.mbus.test_scan import CODES, expected_probes, random_ids

FLEET = 250
BAUD = 9600  # a pty does not pace bytes; the rate only sets the settle time (3 characters)
WINDOW_S = 0.035  # answers come within 1 ms, 16 ms at worst on 2 busy cores
# The manufacturer level of the scan is offered the codes on this bus. By default it tries
# every three-letter code (26**3 = 17,576 probes for each id shared by several slaves, about
# 7 minutes apiece at WINDOW_S); a real installation knows its few manufacturers.
MANUFACTURERS = [manufacturer_field(code) for code in CODES]

# One id and manufacturer, six slaves: the versions collide, and so do the media of one
# version, with the extreme values 0x00 and 0xFE (0xFF is the wildcard).
VERSIONS_AND_MEDIA = (
    (0x00, 0x07),
    (0x01, 0x07),
    (0xFE, 0x07),
    (0x01, 0x04),
    (0x01, 0x00),
    (0x01, 0xFE),
)


@contextmanager
def emulated_bus(slaves: Sequence[EmulatedSlave]) -> Iterator[tuple[MbusBusEmulator, MbusMaster]]:
    """An emulator with ``slaves`` and a master on its pty with the short answer window;
    both closed (and the pty's temporary directory removed) after."""
    with (
        MbusBusEmulator(slaves, collision="merge") as emulator,
        BusTransport(emulator.path, BAUD, margin_s=0.0, window_s=WINDOW_S) as transport,
    ):
        yield emulator, MbusMaster(transport)


def adversarial_fleet(rng: random.Random) -> list[EmulatedSlave]:
    """250 slaves with distinct secondary addresses that collide at every level."""
    slaves: list[EmulatedSlave] = []
    # 5 x 10 ids equal in all but the last digit.
    for prefix in (i[:7] for i in random_ids(rng, 5)):
        slaves += [
            EmulatedSlave(id=f"{prefix}{d}", manufacturer=rng.choice(CODES)) for d in range(10)
        ]
    # The same id under every manufacturer, and its last-digit neighbour under five.
    slaves += [EmulatedSlave(id="12345678", manufacturer=code) for code in CODES]
    slaves += [EmulatedSlave(id="12345679", manufacturer=code) for code in CODES[:5]]
    # The same id and manufacturer, different versions and media; a second manufacturer
    # with the same id makes the manufacturer level collide first.
    slaves += [
        EmulatedSlave(id="87654321", manufacturer="ABB", version=v, medium=m)
        for v, m in VERSIONS_AND_MEDIA
    ]
    slaves.append(EmulatedSlave(id="87654321", manufacturer="KAM", version=0x01, medium=0x07))
    taken = {s.id for s in slaves}
    fill = [i for i in random_ids(rng, FLEET) if i not in taken][: FLEET - len(slaves)]
    slaves += [
        EmulatedSlave(
            id=i,
            manufacturer=rng.choice(CODES),
            version=rng.randrange(0x100 - 1),
            medium=rng.choice((0x02, 0x03, 0x04, 0x06, 0x07, 0x16)),
        )
        for i in fill
    ]
    rng.shuffle(slaves)
    return slaves


def secondary(slave: EmulatedSlave) -> str:
    """The 16 hex digits of a slave's secondary address, as :class:`SlaveInfo` prints them."""
    return build_secondary(slave.secondary).hex().upper()


@pytest.fixture(scope="module")
def fleet() -> list[EmulatedSlave]:
    slaves = adversarial_fleet(random.Random(250))
    assert len(slaves) == len({secondary(s) for s in slaves}) == FLEET
    return slaves


@pytest.fixture(scope="module")
def secondary_scan(fleet: list[EmulatedSlave]) -> SecondaryScanResult:
    """One secondary scan of the adversarial fleet (about 40 s), shared by the tests below."""
    with emulated_bus(fleet) as (emulator, master):
        result = master.scan_secondary(manufacturers=MANUFACTURERS)
    assert emulator.collisions > 0
    print(
        f"secondary scan of {FLEET}: {result.probes} probes, {result.collisions} collisions, "
        f"{master.requests} requests"
    )
    return result


def test_secondary_scan_finds_every_slave_of_the_adversarial_fleet(
    fleet: list[EmulatedSlave], secondary_scan: SecondaryScanResult
) -> None:
    found = {info.secondary for info in secondary_scan.found}
    assert found == {secondary(s) for s in fleet}


def test_secondary_scan_reports_no_slave_twice(secondary_scan: SecondaryScanResult) -> None:
    addresses = [info.secondary for info in secondary_scan.found]
    assert len(addresses) == len(set(addresses)) == FLEET


def test_secondary_scan_leaves_nothing_unresolved_or_unexplained(
    secondary_scan: SecondaryScanResult,
) -> None:
    assert secondary_scan.unresolved == []
    assert secondary_scan.unexplained == []


def test_secondary_scan_on_the_wire_costs_the_probes_of_the_tree(
    fleet: list[EmulatedSlave], secondary_scan: SecondaryScanResult
) -> None:
    tree = expected_probes([s.secondary for s in fleet], len(MANUFACTURERS))
    # A subtree walked again (an answer lost or late on a loaded machine) costs extra.
    first_walk = secondary_scan.probes - secondary_scan.rescan_probes
    assert first_walk == tree or secondary_scan.rescanned


def primary_fleet(rng: random.Random) -> list[EmulatedSlave]:
    """250 slaves at primary addresses 0-249, random ids and manufacturers."""
    return [
        EmulatedSlave(id=i, manufacturer=rng.choice(CODES), primary=address)
        for address, i in enumerate(random_ids(rng, FLEET))
    ]


def test_primary_scan_finds_each_of_250_slaves_at_its_address() -> None:
    slaves = primary_fleet(random.Random(251))
    with emulated_bus(slaves) as (_, master):
        found: list[SlaveInfo] = master.scan_primary(range(0, 251))
    assert [(s.primary, s.id, s.manufacturer) for s in found] == [
        (s.primary, s.id, s.manufacturer) for s in slaves
    ]
