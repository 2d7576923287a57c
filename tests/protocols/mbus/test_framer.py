"""The incremental framer: frames back from any split, resynchronisation, needed bytes, echo."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protocols.errors import DecodeError
from protocols.mbus import (
    EchoSuppressor,
    Frame,
    Framer,
    LongFrame,
    ShortFrame,
    SingleCharacter,
    build_frame,
    build_long,
    build_short,
    req_ud2,
    strip_echo,
)

byte = st.integers(0, 255)
frames_st: st.SearchStrategy[Frame] = st.one_of(
    st.just(SingleCharacter()),
    st.builds(ShortFrame, byte, byte),
    st.builds(LongFrame, byte, byte, byte, st.binary(max_size=252)),
)


def feed_in_pieces(framer: Framer, stream: bytes, cuts: list[int]) -> list[Frame]:
    events: list[Frame] = []
    start = 0
    for cut in [*sorted(cuts), len(stream)]:
        events += framer.feed(stream[start:cut])
        start = cut
    return events


@given(st.lists(frames_st, max_size=8), st.data())
def test_random_splits_give_the_frames_back(frames: list[Frame], data: st.DataObject) -> None:
    stream = b"".join(build_frame(f) for f in frames)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=20))
    framer = Framer()
    assert feed_in_pieces(framer, stream, cuts) == frames
    assert (framer.skipped, framer.bad_frames, framer.buffered) == (0, 0, 0)


def test_garbage_between_frames_is_skipped_and_counted() -> None:
    garbage = b"\x00\x01\xaa\x55"  # no start byte among them
    framer = Framer()
    stream = garbage + build_short(0x5B, 1) + garbage + build_long(8, 1, 0x72, b"\x01\x02")
    assert framer.feed(stream) == [ShortFrame(0x5B, 1), LongFrame(8, 1, 0x72, b"\x01\x02")]
    assert (framer.skipped, framer.bad_frames) == (2 * len(garbage), 0)


def test_checksum_mismatch_drops_the_whole_frame() -> None:
    bad = bytearray(build_long(8, 1, 0x72, b"\xe5\x10\xe5"))  # starts hidden in the data
    bad[-2] ^= 0xFF
    framer = Framer()
    assert framer.feed(bytes(bad) + build_short(0x40, 3)) == [ShortFrame(0x40, 3)]
    assert (framer.bad_frames, framer.skipped) == (1, len(bad))


def test_l_fields_differ_resynchronises_at_once() -> None:
    framer = Framer()
    assert framer.feed(b"\x68\x20\x21\x68") == []  # refused without waiting for L bytes
    assert framer.bad_frames == 1 and framer.buffered == 1  # the second 68 is a candidate
    assert framer.feed(b"\x00\x00" + b"\xe5") == [SingleCharacter()]


def test_missing_stop_byte_counts_a_bad_frame() -> None:
    bad = bytearray(build_long(8, 1, 0x72, b"\x00"))
    bad[-1] = 0x00
    framer = Framer()
    assert framer.feed(bytes(bad) + b"\xe5") == [SingleCharacter()]
    assert framer.bad_frames == 1 and framer.skipped == len(bad)


def test_bad_short_frame_counts() -> None:
    framer = Framer()
    assert framer.feed(bytes.fromhex("105B056116") + b"\xe5") == [SingleCharacter()]
    assert framer.bad_frames == 1


@given(st.binary(min_size=1, max_size=252))
def test_needed_for_partial_long_frame(data: bytes) -> None:
    raw = build_long(8, 1, 0x72, data)
    framer = Framer()
    for buffered in range(2, len(raw)):
        framer.reset()
        framer.feed(raw[:buffered])
        assert framer.needed == 4 + raw[1] + 2 - buffered


def test_needed_before_l_short_and_idle() -> None:
    framer = Framer()
    assert framer.needed == 1
    framer.feed(b"\x68")
    assert framer.needed == 8  # the shortest long frame: a 9-byte control frame
    framer.reset()
    framer.feed(b"\x10\x5b")
    assert framer.needed == 3


@given(st.binary(max_size=2000), st.data())
def test_fuzz_framer_gives_only_frames_and_bounded_buffer(raw: bytes, data: st.DataObject) -> None:
    framer = Framer()
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=10))
    try:
        events = feed_in_pieces(framer, raw, cuts)
    except DecodeError:  # allowed by the contract, though the framer never raises
        return
    assert all(isinstance(e, SingleCharacter | ShortFrame | LongFrame) for e in events)
    assert framer.buffered < 4 + 255 + 2
    consumed = sum(len(build_frame(e)) for e in events)
    assert consumed + framer.skipped + framer.buffered == len(raw)


def test_strip_echo_drops_exactly_the_echo() -> None:
    sent = req_ud2(1, fcb=True)
    reply = build_long(8, 1, 0x72, b"\x01")
    assert strip_echo(sent, sent + reply) == reply
    assert strip_echo(sent, reply) == reply  # a converter that does not echo
    assert strip_echo(sent, sent + sent) == sent  # only one echo is removed


@given(st.data())
def test_echo_suppressor_across_splits(data: st.DataObject) -> None:
    sent = build_long(0x53, 253, 0x52, bytes(8))
    reply = b"\xe5"
    stream = sent + reply
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    echo = EchoSuppressor()
    echo.expect(sent)
    out = b""
    start = 0
    for cut in [*cuts, len(stream)]:
        out += echo.filter(stream[start:cut])
        start = cut
    assert out == reply and not echo.pending


def test_echo_suppressor_gives_back_a_shared_prefix() -> None:
    sent = build_long(0x53, 1, 0x51, b"\x01")  # 68 04 04 68 53 ...
    reply = build_long(0x08, 1, 0x72, b"\x01")  # 68 04 04 68 08 ...: same first 4 bytes
    echo = EchoSuppressor()
    echo.expect(sent)
    assert echo.filter(reply[:4]) == b""  # could still be the echo: held back
    assert echo.filter(reply[4:]) == reply  # it was not: the held bytes come back
    assert not echo.pending


def test_timeout_releases_what_a_stray_start_byte_held_back() -> None:
    framer = Framer()
    assert framer.feed(b"\x10\xe5") == []  # a noise 10 waits for a five-byte short frame
    assert framer.timeout() == [SingleCharacter()]
    assert (framer.bad_frames, framer.skipped, framer.buffered) == (1, 1, 0)


def test_timeout_when_idle_does_nothing() -> None:
    framer = Framer()
    assert framer.timeout() == [] and framer.bad_frames == 0
