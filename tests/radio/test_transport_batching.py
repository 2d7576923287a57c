"""radio.transport.SerialPort reads in batches: after a short read the port rests
READ_BATCH_S, so the telegrams of that time come in one read (one event-loop wake-up)."""

from __future__ import annotations

import asyncio
import os
import pty
import time
import tty

from radio.transport import READ_BATCH_S, SerialPort


def _run(writes: list[bytes], gap_s: float) -> list[tuple[float, bytes]]:
    """Open a real pty's slave as the port, write ``writes`` to the master ``gap_s`` apart;
    every chunk the port delivered, with its monotonic time."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    chunks: list[tuple[float, bytes]] = []

    async def scenario() -> None:
        port = SerialPort(path, 115200, lambda data: chunks.append((time.monotonic(), data)))
        port.open()
        try:
            for data in writes:
                os.write(master, data)
                await asyncio.sleep(gap_s)
            await asyncio.sleep(3 * READ_BATCH_S)
        finally:
            port.close()

    try:
        asyncio.run(scenario())
    finally:
        os.close(master)
        os.close(slave)
    return chunks


def test_bytes_arriving_during_the_rest_come_in_one_read() -> None:
    writes = [bytes([n]) * 20 for n in range(6)]
    chunks = _run(writes, READ_BATCH_S / 10)
    assert b"".join(c for _, c in chunks) == b"".join(writes)  # nothing lost, in order
    assert len(chunks) < len(writes)


def test_the_next_read_waits_for_the_rest_after_a_short_read() -> None:
    chunks = _run([b"a" * 20, b"b" * 20], 0.001)
    assert [c for _, c in chunks] == [b"a" * 20, b"b" * 20]
    assert chunks[1][0] - chunks[0][0] >= READ_BATCH_S * 0.9


def test_a_busy_line_is_read_without_rest() -> None:
    writes = [os.urandom(3000) for _ in range(4)]
    chunks = _run(writes, 0.0)
    assert b"".join(c for _, c in chunks) == b"".join(writes)
    assert all(len(c) >= 2048 for _, c in chunks[:-1])  # each read took a busy line's worth
    assert chunks[-1][0] - chunks[0][0] < READ_BATCH_S  # and none rested
