"""The libmbus test frames (../shared/vectors/mbus_frames.jsonl) as link-layer frames."""

from __future__ import annotations

from protocols.mbus import Framer, LongFrame, parse_long
from tests.protocols.vectors import load_jsonl


def test_every_test_frame_parses_as_a_long_frame_with_the_checksum_right() -> None:
    rows = [r for r in load_jsonl("mbus_frames.jsonl") if r["set"] == "test-frames"]
    assert rows
    for row in rows:
        frame = parse_long(bytes.fromhex(row["hex"]))  # raises CrcError on a bad checksum
        expected = row["frame"]
        assert frame.kind == "long", row["name"]
        assert (
            expected["L"],
            expected["C"],
            expected["A"],
            expected["CI"],
        ) == (frame.L, frame.C, frame.A, frame.CI), row["name"]


def test_the_test_frames_back_to_back_through_the_framer() -> None:
    rows = [r for r in load_jsonl("mbus_frames.jsonl") if r["set"] == "test-frames"]
    raws = [bytes.fromhex(r["hex"]) for r in rows]
    framer = Framer()
    events = []
    stream = b"".join(raws)
    for start in range(0, len(stream), 7):  # in serial-read-sized pieces
        events += framer.feed(stream[start : start + 7])
    assert events == [parse_long(raw) for raw in raws]
    assert isinstance(events[0], LongFrame) and framer.skipped == 0
