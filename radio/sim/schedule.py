"""Pre-generated schedules: a field's transmissions saved to a file and read back.

A benchmark generates an hour of a 30,000-meter field once, then replays the file so that
the simulator does not compete with the daemon for CPU. Format: one JSON header line (the
meters with their kinds and keys), then one binary record per transmission:
``t (f64) rssi (f32) meter index (u32) count (u32) flags (u8) length (u8)``, the frame,
and the raw record values (dates as day ordinals, reals as f64).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import IO

from radio.sim.field import Transmission
from radio.sim.kinds import KINDS, Kind, Raw
from radio.sim.meters import SimMeter

FORMAT = "concentratord-sim-schedule"
VERSION = 1
_HEAD = struct.Struct("<dfIIBB")
_REASONS = (None, "sensitivity", "noise", "collision")
_LOST, _FULL = 0x01, 0x02


def _value_struct(kind: Kind) -> struct.Struct:
    codes = {"D": "I", "f": "d"}
    return struct.Struct("<" + "".join(codes.get(r.code, r.code) for r in kind.records))


_VALUES = {name: _value_struct(kind) for name, kind in KINDS.items()}


@dataclass(frozen=True, slots=True)
class ScheduledMeter:
    """A meter as a schedule file lists it."""

    meter_id: str
    kind: Kind
    key: bytes


def save_schedule(
    path: str | Path, meters: Iterable[SimMeter], transmissions: Iterable[Transmission]
) -> int:
    """Write ``transmissions`` (from the field whose ``meters`` are given); returns the count."""
    meter_list = list(meters)
    index = {m.meter_id: i for i, m in enumerate(meter_list)}
    header = {
        "format": FORMAT,
        "version": VERSION,
        "meters": [[m.meter_id, m.kind.name, m.key.hex()] for m in meter_list],
    }
    n = 0
    with open(path, "wb", buffering=1 << 20) as f:
        f.write(json.dumps(header).encode() + b"\n")
        for tx in transmissions:
            flags = (_LOST if tx.lost else 0) | (_FULL if tx.full else 0)
            flags |= _REASONS.index(tx.reason) << 2
            raw = tx.raw
            if tx.kind.has_dates:
                raw = tuple(_ordinal(v) if isinstance(v, str) else v for v in raw)
            f.write(
                _HEAD.pack(tx.t, tx.rssi_dbm, index[tx.meter_id], tx.count, flags, len(tx.frame))
                + tx.frame
                + _VALUES[tx.kind.name].pack(*raw)
            )
            n += 1
    return n


@lru_cache(maxsize=4096)
def _ordinal(text: str) -> int:
    return date.fromisoformat(text).toordinal()


class Schedule:
    """A schedule file opened for reading: its meters, then its transmissions in order."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as f:
            header = json.loads(f.readline())
        if header.get("format") != FORMAT or header.get("version") != VERSION:
            raise ValueError(f"{self.path}: not a {FORMAT} file of version {VERSION}")
        self.meters = [
            ScheduledMeter(meter_id, KINDS[kind], bytes.fromhex(key))
            for meter_id, kind, key in header["meters"]
        ]

    def keys(self) -> dict[str, bytes]:
        """Every meter's key by id."""
        return {m.meter_id: m.key for m in self.meters}

    def __iter__(self) -> Iterator[Transmission]:
        with open(self.path, "rb") as f:
            f.readline()
            yield from self._records(f)

    def _records(self, f: IO[bytes]) -> Iterator[Transmission]:
        meters = self.meters
        while head := f.read(_HEAD.size):
            if len(head) < _HEAD.size:
                raise ValueError(f"{self.path}: truncated record")
            t, rssi, index, count, flags, length = _HEAD.unpack(head)
            meter = meters[index]
            kind = meter.kind
            frame = f.read(length)
            fmt = _VALUES[kind.name]
            values = fmt.unpack(f.read(fmt.size))
            raw: Raw = tuple(
                date.fromordinal(v).isoformat() if r.code == "D" else v
                for r, v in zip(kind.records, values, strict=True)
            )
            yield Transmission(
                t,
                meter.meter_id,
                kind,
                kind.link_mode,
                frame,
                rssi,
                bool(flags & _LOST),
                _REASONS[flags >> 2],
                bool(flags & _FULL),
                count,
                raw,
            )


def load_schedule(path: str | Path) -> Schedule:
    """Open a schedule file written by :func:`save_schedule`."""
    return Schedule(path)
