"""The serial line to the level converter (bus/transport.py), against a raw pty."""

from __future__ import annotations

import threading
import time

from bus.transport import MAX_REPLY_BYTES, BusTransport
from protocols.mbus.frames import req_ud2
from radio.sim.pty import PtyDevice


def test_a_line_that_never_stops_sending_is_cut_off() -> None:
    device = PtyDevice()
    device.plug()
    stop = threading.Event()

    def babble() -> None:
        # Once the request is on the line: E5 after E5 until told to stop, in blocks that
        # keep the pty's buffer full (a gap longer than the settle time would end the
        # reply early on a busy machine, and prove nothing).
        while not stop.is_set() and not device.read():
            time.sleep(0.001)
        while not stop.is_set() and device.write(b"\xe5" * 1024):
            pass

    writer = threading.Thread(target=babble, daemon=True)
    try:
        with BusTransport(str(device.link_path), 9600, margin_s=0.0) as transport:
            writer.start()
            started = time.monotonic()
            reply = transport.exchange(req_ud2(5, True))
            took = time.monotonic() - started
    finally:
        stop.set()
        writer.join(5)
        device.close()
    assert reply.garbled
    assert reply.received >= MAX_REPLY_BYTES
    limit = transport.window_s + transport.settle_s + transport.transmit_time(MAX_REPLY_BYTES + 5)
    assert took < limit + 0.5, (took, limit)
