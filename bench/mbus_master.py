"""The wired M-Bus master (issue 13): scan cost, poll cycle time, decode rate.

- **scan**: probes of the wildcard tree scan (:class:`protocols.mbus.SecondaryScan`, the
  pure state machine against a bus modelled as a function, no pty) for three fleets of 250
  slaves: random ids, an adversarial fleet (ids equal in all but the last digit, one id
  under several manufacturers, one id and manufacturer under several versions and media),
  and consecutive serial numbers; against :func:`tree_minimum`.
- **poll**: one poll cycle of 250 slaves (``MbusMaster.read`` of each primary address once)
  on the emulated bus (:class:`radio.sim.mbus_bus.MbusBusEmulator` on a real pty), through
  a real :class:`bus.transport.BusTransport` at 2400 baud with the standard answer window
  and its default USB margin; wall time against :func:`line_minimum_s`. Twice: with the
  emulator pacing its bytes at the line rate (``line_rate=True``), and without (a pty
  delivers at once: the wall time is then the master's own waits and CPU).
- **decode**: frames per CPU-second of ``TelegramDecoder().decode`` on the libmbus corpus
  (``mbus_frames.jsonl`` in $CONCENTRATORD_VECTORS or ../shared/vectors, never copied into
  the repository), and of the link and application layers alone (``parse_long`` +
  ``parse_application``).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from bus.master import MbusMaster
from bus.transport import BITS_PER_CHARACTER, BusTransport
from protocols.mbus import (
    LongFrame,
    Outcome,
    SecondaryAddress,
    SecondaryScan,
    build_frame,
    matches,
    parse_application,
    parse_long,
    req_ud2,
)
from protocols.wmbus.address import manufacturer_field
from protocols.wmbus.decoder import TelegramDecoder
from radio.sim.mbus_bus import EmulatedSlave, MbusBusEmulator

FLEET: Final = 250
CODES: Final = ("KAM", "ABB", "ELS", "SEN", "LUG", "ZRI", "SON", "ITW", "HYD", "EMH")
MANUFACTURERS: Final = [manufacturer_field(c) for c in CODES]
ID_DIGITS: Final = 8
VALUES_PER_BYTE: Final = 255  # version and medium 0x00-0xFE (0xFF is the wildcard)
POLL_BAUD: Final = 2400
DECODE_CPU_S: Final = 5.0
DECODE_RUNS: Final = 3
DECODE_GOAL: Final = 20_000  # frames per CPU-second: ten times the pure-Python reference
DEFAULT_VECTORS: Final = Path(__file__).resolve().parents[1].parent / "shared" / "vectors"

# A heat meter's answer: 11 records (DIF VIF, and the value in the parser's canonical unit:
# kWh, m3, kW, m3/h, C, K, h; the comments say what the VIF puts on the wire), a 77-byte
# RSP_UD long frame.
HEAT_METER: Final[list[tuple[bytes, float | int]]] = [
    (b"\x04\x06", 123_456),  # energy, kWh
    (b"\x04\x13", 4321.123),  # volume, litres
    (b"\x02\x2b", 12.5),  # power, W
    (b"\x02\x3b", 0.456),  # volume flow, l/h
    (b"\x02\x5a", 61.5),  # flow temperature, 0.1 C
    (b"\x02\x5e", 42.3),  # return temperature, 0.1 C
    (b"\x02\x61", 19.2),  # temperature difference, 0.01 K
    (b"\x04\x26", 17_520),  # operating time, hours
    (b"\x44\x06", 120_000),  # energy, storage 1
    (b"\x44\x13", 4200.5),  # volume, storage 1
    (b"\x0c\x78", 12_345_678),  # fabrication number, BCD
]


# -- scan ------------------------------------------------------------------------------


def random_fleet(rng: random.Random) -> list[SecondaryAddress]:
    """250 uniformly random ids, random manufacturers, version 1, medium 7."""
    return [
        SecondaryAddress.of(f"{i:08d}", rng.choice(CODES), 1, 7)
        for i in rng.sample(range(10**ID_DIGITS), FLEET)
    ]


def adversarial_fleet(rng: random.Random) -> list[SecondaryAddress]:
    """250 distinct addresses colliding at every level of the tree."""
    fleet: list[SecondaryAddress] = []
    for prefix in rng.sample(range(10**7), 5):  # 5 x 10 ids equal but in the last digit
        fleet += [
            SecondaryAddress.of(f"{prefix:07d}{d}", rng.choice(CODES), 1, 7) for d in range(10)
        ]
    fleet += [SecondaryAddress.of("12345678", code, 1, 7) for code in CODES]
    fleet += [SecondaryAddress.of("12345679", code, 1, 7) for code in CODES[:5]]
    for version, medium in ((0, 7), (1, 7), (0xFE, 7), (1, 4), (1, 0), (1, 0xFE)):
        fleet.append(SecondaryAddress.of("87654321", "ABB", version, medium))
    fleet.append(SecondaryAddress.of("87654321", "KAM", 1, 7))
    taken = {a.id for a in fleet}
    while len(fleet) < FLEET:
        meter_id = f"{rng.randrange(10**ID_DIGITS):08d}"
        if meter_id not in taken:
            taken.add(meter_id)
            medium = rng.choice((0x02, 0x03, 0x04, 0x06, 0x07, 0x16))
            fleet.append(
                SecondaryAddress.of(meter_id, rng.choice(CODES), rng.randrange(255), medium)
            )
    rng.shuffle(fleet)
    return fleet


def consecutive_fleet() -> list[SecondaryAddress]:
    """250 consecutive serial numbers of one delivery (12345000-12345249)."""
    return [SecondaryAddress.of(f"{12_345_000 + n:08d}", "KAM", 1, 7) for n in range(FLEET)]


def tree_minimum(fleet: Sequence[SecondaryAddress], manufacturers: int) -> int:
    """The fewest probes a tree search of this fleet's wildcard tree can make.

    The tree: the root pattern (everything wildcard); below a node, one child per value of
    its first wildcard, the id digits most significant first (10 children: 0-9), then the
    manufacturer (``manufacturers`` children: the candidates offered), the version and the
    medium (255 children each: 0x00-0xFE). A probe answers only none / one / collision, so
    a node with two or more slaves below it must be probed and found colliding, and every
    one of its children must be probed (a child not probed may hold a slave). Hence

        minimum = 1 (the root) + sum over colliding nodes of their number of children

    computed here by building the tree from the fleet (grouping, level by level), without
    the scan's code. Identical addresses (a collision below the medium) add nothing.
    """
    # Each slave as its path from the root: the 8 digits, manufacturer, version, medium.
    paths = [(*a.id, a.manufacturer, a.version, a.medium) for a in fleet]
    children = [10] * ID_DIGITS + [manufacturers, VALUES_PER_BYTE, VALUES_PER_BYTE]

    def below(slaves: Sequence[tuple[str | int, ...]], level: int) -> int:
        if len(slaves) < 2 or level == len(children):
            return 0
        groups: defaultdict[str | int, list[tuple[str | int, ...]]] = defaultdict(list)
        for path in slaves:
            groups[path[level]].append(path)
        return children[level] + sum(below(group, level + 1) for group in groups.values())

    return 1 + below(paths, 0)


def scan_probes(fleet: Sequence[SecondaryAddress], manufacturers: Sequence[int]) -> SecondaryScan:
    """The scan run to its end against the fleet as a pure function of the pattern."""
    scan = SecondaryScan(manufacturers=manufacturers)
    while (pattern := scan.next_pattern()) is not None:
        hits = [a for a in fleet if matches(a, pattern)]
        if len(hits) == 1:
            scan.report(Outcome.ONE, hits[0])
        else:
            scan.report(Outcome.NONE if not hits else Outcome.COLLISION)
    return scan


def scan_figures() -> dict[str, Any]:
    """Probes, the tree minimum and their ratio for the three fleets."""
    fleets = {
        "random": random_fleet(random.Random(13)),
        "adversarial": adversarial_fleet(random.Random(2026)),
        "consecutive": consecutive_fleet(),
    }
    out: dict[str, Any] = {}
    for name, fleet in fleets.items():
        assert len(set(fleet)) == FLEET, name
        scan = scan_probes(fleet, MANUFACTURERS)
        if set(scan.found) != set(fleet) or len(scan.found) != FLEET:
            raise RuntimeError(f"{name}: the scan found {len(set(scan.found))} of {FLEET}")
        minimum = tree_minimum(fleet, len(MANUFACTURERS))
        out[name] = {
            "probes": scan.probes,
            "collisions": scan.collisions,
            "minimum": minimum,
            "ratio": round(scan.probes / minimum, 4),
            "n_plus_1": FLEET + 1,
        }
        print(
            f"scan {name:>11}: {scan.probes:5,} probes, tree minimum {minimum:5,}, "
            f"ratio {scan.probes / minimum:.3f} ({scan.collisions} collisions; "
            f"N + 1 = {FLEET + 1})"
        )
    return out


# -- poll cycle ------------------------------------------------------------------------


def heat_meters(rng: random.Random) -> list[EmulatedSlave]:
    """250 heat meters at primary addresses 1-250, each with its own values."""
    slaves = []
    for address, meter_id in enumerate(rng.sample(range(10**ID_DIGITS), FLEET), start=1):
        scale = rng.uniform(0.5, 1.5)
        records = [
            (header, round(value * scale) if isinstance(value, int) else round(value * scale, 1))
            for header, value in HEAT_METER
        ]
        slaves.append(
            EmulatedSlave(
                id=f"{meter_id:08d}",
                manufacturer=rng.choice(CODES),
                medium=0x04,
                primary=address,
                telegrams=[records],
            )
        )
    return slaves


def line_minimum_s(requests: int, answers: int, exchanges: int, baud: int) -> float:
    """Every byte of the requests and answers at 11 bits a character, plus the standard's
    shortest turnaround (a slave answers 11 bit times after the request at the earliest)
    once per exchange. Not counted: the master's pause before its next request."""
    bits = (requests + answers) * BITS_PER_CHARACTER + exchanges * BITS_PER_CHARACTER
    return bits / baud


def poll_cycle(line_rate: bool) -> dict[str, Any]:
    """``MbusMaster.read`` of every slave once, the wall time and the bytes exchanged."""
    slaves = heat_meters(random.Random(2400))
    with (
        MbusBusEmulator(slaves, line_rate=line_rate) as emulator,
        BusTransport(emulator.path, POLL_BAUD) as transport,
    ):
        master = MbusMaster(transport)
        answers: list[LongFrame] = []
        started, cpu = time.monotonic(), time.process_time()
        for slave in slaves:
            assert slave.primary is not None
            answers += master.read(slave.primary)
        wall = time.monotonic() - started
        cpu = time.process_time() - cpu
        window_s, settle_s = transport.window_s, transport.settle_s
    if len(answers) != FLEET or master.retried:
        raise RuntimeError(f"{len(answers)} answers of {FLEET}, {master.retried} retries")
    request_bytes = sum(len(req_ud2(s.primary or 0, True)) for s in slaves)
    answer_bytes = sum(len(build_frame(frame)) for frame in answers)
    minimum = line_minimum_s(request_bytes, answer_bytes, master.requests, POLL_BAUD)
    return {
        "line_rate": line_rate,
        "slaves": FLEET,
        "exchanges": master.requests,
        "request_bytes": request_bytes,
        "answer_bytes": answer_bytes,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),  # the whole process: master and emulator thread
        "line_minimum_s": round(minimum, 2),
        # the bytes alone: what the emulator's pacing adds (it adds no turnaround)
        "bytes_s": round((request_bytes + answer_bytes) * BITS_PER_CHARACTER / POLL_BAUD, 2),
        "ratio": round(wall / minimum, 3),
        "window_s": round(window_s, 4),
        "settle_s": round(settle_s, 4),
        "settle_total_s": round(master.requests * settle_s, 2),
    }


def poll_figures() -> dict[str, Any]:
    """The poll cycle paced at the line rate, and on the bare pty."""
    out: dict[str, Any] = {}
    for name, paced in (("paced", True), ("pty", False)):
        r = out[name] = poll_cycle(paced)
        print(
            f"poll {name:>5}: {r['slaves']} slaves at {POLL_BAUD} baud, {r['wall_s']:.1f} s wall "
            f"({r['cpu_s']:.1f} s CPU), line minimum {r['line_minimum_s']:.1f} s "
            f"({r['request_bytes']:,} + {r['answer_bytes']:,} bytes + {r['exchanges']} "
            f"turnarounds), ratio {r['ratio']:.2f}; the master's settle waits "
            f"{r['exchanges']} x {r['settle_s'] * 1000:.1f} ms = {r['settle_total_s']:.1f} s"
            + (f", the bytes' line time {r['bytes_s']:.1f} s" if paced else "")
        )
    return out


# -- decode rate -----------------------------------------------------------------------


def vectors_dir() -> Path:
    """$CONCENTRATORD_VECTORS, else ../shared/vectors beside the repository."""
    return Path(os.environ.get("CONCENTRATORD_VECTORS", DEFAULT_VECTORS))


def corpus() -> tuple[list[bytes], list[bytes], list[str]]:
    """The libmbus test frames (the set ``test-frames``; not the error frames): those the
    telegram decoder takes, all of them (for the parse-only rate), and the names of those
    it refuses."""
    path = vectors_dir() / "mbus_frames.jsonl"
    with path.open() as f:
        rows = [json.loads(line) for line in f if line.strip()]
    frames = [(r["name"], bytes.fromhex(r["hex"])) for r in rows if r["set"] == "test-frames"]
    decoder = TelegramDecoder()
    decodable: list[bytes] = []
    refused: list[str] = []
    for name, raw in frames:
        try:
            decoder.decode(raw)
        except Exception:
            refused.append(name)
        else:
            decodable.append(raw)
    return decodable, [raw for _, raw in frames], refused


def rate(work: Callable[[bytes], object], frames: Sequence[bytes]) -> float:
    """Frames per CPU-second, the corpus repeated for at least :data:`DECODE_CPU_S`."""
    done = 0
    start = time.process_time()
    while (spent := time.process_time() - start) < DECODE_CPU_S:
        for raw in frames:
            work(raw)
        done += len(frames)
    return done / spent


def parse_only(raw: bytes) -> object:
    """The link layer and the application layer, no telegram."""
    return parse_application(parse_long(raw))


def decode_figures() -> dict[str, Any]:
    """:data:`DECODE_RUNS` runs of the decode rate and of the parse-only rate."""
    decodable, every, refused = corpus()
    loadavg = Path("/proc/loadavg").read_text().split()[:3]
    decode_rates: list[float] = []
    parse_rates: list[float] = []
    for _ in range(DECODE_RUNS):
        decoder = TelegramDecoder()
        decode_rates.append(rate(decoder.decode, decodable))
        parse_rates.append(rate(parse_only, every))
    loadavg_after = Path("/proc/loadavg").read_text().split()[:3]
    print(
        f"decode: {len(decodable)} frames of the libmbus corpus ({len(refused)} refused: "
        f"{', '.join(refused)}), {min(decode_rates):,.0f}-{max(decode_rates):,.0f} frames per "
        f"CPU-second (goal {DECODE_GOAL:,}); parse only ({len(every)} frames) "
        f"{min(parse_rates):,.0f}-{max(parse_rates):,.0f}; load average "
        f"{' '.join(loadavg)} before, {' '.join(loadavg_after)} after"
    )
    return {
        "frames": len(decodable),
        "refused": refused,
        "decode_per_cpu_s": [round(r) for r in decode_rates],
        "parse_frames": len(every),
        "parse_per_cpu_s": [round(r) for r in parse_rates],
        "goal": DECODE_GOAL,
        "met": min(decode_rates) >= DECODE_GOAL,
        "loadavg_before": loadavg,
        "loadavg_after": loadavg_after,
    }


def main() -> dict[str, Any]:
    """Scenario ``mbus``."""
    return {"scan": scan_figures(), "poll": poll_figures(), "decode": decode_figures()}
