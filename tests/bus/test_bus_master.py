"""The wired M-Bus master against the emulated bus on a real pty."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from bus.answer import merged_telegram
from bus.master import AsyncMaster, MbusMaster, NoAnswerError
from bus.transport import BusTransport, Reply, answer_window
from protocols.mbus.frames import C_FCB, LongFrame, select_secondary, snd_nke
from protocols.mbus.secondary import Outcome, SecondaryAddress, build_secondary
from protocols.readout import telegram_fields
from protocols.wmbus.address import manufacturer_field
from protocols.wmbus.decoder import TelegramDecoder
from radio.sim.mbus_bus import EmulatedSlave, MbusBusEmulator
from tests.bus.helpers import BAUD, MARGIN_S, bus

VOLUME = b"\x04\x13"  # int32 volume, litres
FLOW_TEMPERATURE = b"\x02\x5a"  # int16 flow temperature, 0.1 C
ENERGY = b"\x04\x06"  # int32 energy, kWh


def _decoded(frames: list[LongFrame]) -> dict[str, Any]:
    decoder = TelegramDecoder()
    return telegram_fields(merged_telegram(frames, decoder), registry=decoder.registry)


def test_primary_scan_finds_the_slaves_at_their_addresses() -> None:
    slaves = [
        EmulatedSlave(id="00000003", primary=3, manufacturer="KAM", medium=0x04),
        EmulatedSlave(id="11110007", primary=7),
        EmulatedSlave(id="22220012", primary=12, manufacturer="LUG", version=9),
        EmulatedSlave(id="99999999"),  # secondary only: no primary address
    ]
    with bus(slaves) as (_, master):
        found = master.scan_primary(range(0, 16))
    assert [(s.primary, s.id, s.manufacturer) for s in found] == [
        (3, "00000003", "KAM"),
        (7, "11110007", "ABB"),
        (12, "22220012", "LUG"),
    ]
    assert found[0].medium == 0x04 and found[2].version == 9
    assert master.probes == 16 + 3  # one SND_NKE per address, one REQ_UD2 per slave


def _adversarial_slaves() -> list[EmulatedSlave]:
    """30 slaves: ids equal in all but the last digits (12345600 .. 12345626), and one id
    shared by three manufacturers."""
    slaves = [EmulatedSlave(id=f"123456{n:02d}") for n in range(27)]
    slaves += [EmulatedSlave(id="12345627", manufacturer=m) for m in ("ABB", "KAM", "LUG")]
    return slaves


def test_secondary_scan_finds_each_of_30_colliding_slaves_once() -> None:
    """Merged answers: the E5s of several slaves overlap into one clean E5, and only the
    REQ_UD2 that follows (a frame with a wrong checksum) shows the collision."""
    slaves = _adversarial_slaves()
    candidates = [manufacturer_field(m) for m in ("ABB", "ELS", "KAM", "LUG")]
    with bus(slaves, collision="merge") as (emulator, master):
        result = master.scan_secondary(manufacturers=candidates)
    found = [(s.id, s.manufacturer) for s in result.found]
    assert sorted(found) == sorted((s.id, s.manufacturer) for s in slaves)
    assert len(found) == len(set(found)) == 30
    assert result.unresolved == [] and result.unexplained == []
    assert emulator.collisions >= result.collisions > 0
    assert result.probes >= 30


def test_secondary_scan_with_garbage_collisions() -> None:
    slaves = [
        EmulatedSlave(id="00000001"),
        EmulatedSlave(id="00000002", manufacturer="KAM"),
        EmulatedSlave(id="00000002", manufacturer="LUG"),
    ]
    candidates = [manufacturer_field(m) for m in ("KAM", "LUG")]
    with bus(slaves, collision="garbage") as (emulator, master):
        result = master.scan_secondary(SecondaryAddress("0000000F"), candidates)
    assert sorted((s.id, s.manufacturer) for s in result.found) == [
        ("00000001", "ABB"),
        ("00000002", "KAM"),
        ("00000002", "LUG"),
    ]
    assert emulator.collisions == result.collisions == 2  # 0000000F, then 00000002


def test_select_outcomes() -> None:
    slaves = [EmulatedSlave(id="12340001"), EmulatedSlave(id="12340002")]
    with bus(slaves, collision="garbage") as (_, master):
        assert master.select(SecondaryAddress.of("12340001")) is Outcome.ONE
        assert master.select(SecondaryAddress.of("1234000F")) is Outcome.COLLISION
        assert master.select(SecondaryAddress.of("99999999")) is Outcome.NONE
        # selected by its secondary address, the slave is read at 253
        assert master.select(SecondaryAddress.of("12340002", "ABB")) is Outcome.ONE
        frames = master.read(253)
    assert _decoded(frames)["id"] == "12340002"


def test_read_returns_the_values_the_slave_was_given() -> None:
    slave = EmulatedSlave(
        id="87654321",
        manufacturer="KAM",
        medium=0x04,  # heat
        primary=42,
        telegrams=[[(ENERGY, 1234), (VOLUME, 56.789), (FLOW_TEMPERATURE, 61.5)]],
    )
    with bus([slave]) as (_, master):
        frames = master.read(42)
    assert len(frames) == 1 and frames[0].CI == 0x72
    fields = _decoded(frames)
    assert fields["id"] == "87654321" and fields["manufacturer"] == "KAM"
    assert fields["total_energy_consumption_kwh"] == 1234
    assert fields["total_m3"] == pytest.approx(56.789)
    assert fields["flow_temperature_c"] == pytest.approx(61.5)


def test_multi_telegram_answer_is_merged() -> None:
    slave = EmulatedSlave(
        id="10203040",
        primary=1,
        telegrams=[[(VOLUME, 3.5)], [(FLOW_TEMPERATURE, 12.5)], [(ENERGY, 77)]],
    )
    with bus([slave]) as (_, master):
        frames = master.read(1)
    assert len(frames) == 3
    assert [f.data[-1] for f in frames[:2]] == [0x1F, 0x1F]  # "more records follow"
    fields = _decoded(frames)
    assert fields["total_m3"] == pytest.approx(3.5)
    assert fields["flow_temperature_c"] == pytest.approx(12.5)
    assert fields["total_energy_consumption_kwh"] == 77
    # each next telegram asked for with the FCB toggled
    fcbs = [bool(c & C_FCB) for c in slave.c_fields]
    assert fcbs == [True, False, True]


def test_fcb_toggles_between_reads_and_a_retry_keeps_it() -> None:
    slave = EmulatedSlave(id="55555555", primary=9)
    with bus([slave]) as (_, master):
        assert master.send_nke(9)
        first = master.read(9)
        second = master.read(9)
        slave.lose = 1  # the slave's next answer is lost on the line
        third = master.read(9)
        slave.corrupt = 1  # and the next arrives with a wrong checksum
        fourth = master.read(9)
    assert slave.c_fields == [0x40, 0x7B, 0x5B, 0x7B, 0x7B, 0x5B, 0x5B]
    assert master.retried == 2
    # the repeated request got the answer the slave had computed (not a newer one)
    access = [f[0].data[8] for f in (first, second, third, fourth)]
    assert access == [1, 2, 3, 4]


def test_silent_slave_gives_no_answer_within_the_window() -> None:
    slave = EmulatedSlave(id="66666666", primary=4, silent=True)
    with bus([slave]) as (_, master):
        assert not master.send_nke(4, retries=0)
        started = time.monotonic()
        with pytest.raises(NoAnswerError, match="no answer after 3"):
            master.read(4)
        elapsed = time.monotonic() - started
    window = answer_window(BAUD, MARGIN_S)
    assert 3 * window <= elapsed < 3 * window + 0.5
    assert slave.c_fields[1:] == [0x7B, 0x7B, 0x7B]  # retried with the same FCB


def test_slow_slave_inside_the_window_is_read() -> None:
    window = answer_window(BAUD, MARGIN_S)
    slave = EmulatedSlave(id="77777777", primary=6, delay_s=window * 0.6)
    with bus([slave]) as (_, master):
        frames = master.read(6)
    assert _decoded(frames)["id"] == "77777777" and master.retried == 0


def test_echoing_converter_still_works() -> None:
    slaves = [
        EmulatedSlave(id="13579135", primary=5, telegrams=[[(VOLUME, 1.0)], [(VOLUME, 2.0)]]),
        EmulatedSlave(id="13579136"),
    ]
    emulator = MbusBusEmulator(slaves, echo=True).start()
    try:
        with BusTransport(emulator.path, BAUD, margin_s=MARGIN_S) as transport:
            reply = transport.exchange(snd_nke(5))
            assert reply.clean and reply.echo == 5
            master = MbusMaster(transport)
            frames = master.read(5)
            assert len(frames) == 2 and master.retried == 0
            assert master.select(SecondaryAddress.of("13579136")) is Outcome.ONE
            # merged E5s look clean: the REQ_UD2 that follows shows the collision
            outcome, _, _ = master.probe_secondary(SecondaryAddress.of("1357913F"))
            assert outcome is Outcome.COLLISION
    finally:
        emulator.stop()
    assert not emulator.device.plugged


def test_transport_refuses_rates_outside_the_standard() -> None:
    with pytest.raises(ValueError, match="baud rate"):
        BusTransport("/dev/null", 115200)


def test_async_master_runs_requests_in_a_thread() -> None:
    slave = EmulatedSlave(id="24682468", primary=8, telegrams=[[(VOLUME, 4.5)]])
    with bus([slave]) as (_, master):
        wrapped = AsyncMaster(master)

        async def both() -> tuple[bool, list[LongFrame]]:
            return await asyncio.gather(wrapped.send_nke(8), wrapped.read(8))

        acked, frames = asyncio.run(both())
    assert acked and _decoded(frames)["total_m3"] == pytest.approx(4.5)


class LosesOneAnswer:
    """The transport, but the answer to the first selection with ``pattern`` is lost on the
    line (noise, or an answer come after the window)."""

    def __init__(self, inner: BusTransport, pattern: SecondaryAddress) -> None:
        self.inner = inner
        self.request = select_secondary(build_secondary(pattern))
        self.lost = False

    def send(self, request: bytes) -> None:
        self.inner.send(request)

    def exchange(self, request: bytes) -> Reply:
        reply = self.inner.exchange(request)
        if request == self.request and not self.lost:
            self.lost = True
            return Reply()
        return reply


def test_a_subtree_whose_answer_was_lost_is_walked_again() -> None:
    slaves = [EmulatedSlave(id="10000001"), EmulatedSlave(id="10000002")]
    with bus(slaves) as (_emulator, master):
        lossy = LosesOneAnswer(master.transport, SecondaryAddress("1000000F"))
        master.transport = lossy  # type: ignore[assignment]
        result = master.scan_secondary()
    assert lossy.lost
    assert sorted(s.id for s in result.found) == ["10000001", "10000002"]
    assert result.rescanned and result.unexplained == []
    assert 0 < result.rescan_probes < result.probes


def test_a_baud_rate_switch_is_acknowledged_and_the_port_follows() -> None:
    slave = EmulatedSlave(id="12345678", primary=3)
    with (
        MbusBusEmulator([slave]) as emulator,
        BusTransport(emulator.path, 2400, margin_s=0.0, window_s=0.05) as transport,
    ):
        master = MbusMaster(transport)
        assert master.switch_baud(3, 9600)
        assert (slave.baud, transport.baudrate) == (9600, 9600)
        assert master.read(3)[0].CI == 0x72  # read at the new rate


def test_a_baud_rate_switch_nobody_acknowledges_keeps_the_rate() -> None:
    with (
        MbusBusEmulator([EmulatedSlave(id="12345678", primary=3)]) as emulator,
        BusTransport(emulator.path, 2400, margin_s=0.0, window_s=0.05) as transport,
    ):
        assert not MbusMaster(transport).switch_baud(9, 9600)
        assert transport.baudrate == 2400


def test_a_rate_the_port_lacks_is_refused() -> None:
    with (
        MbusBusEmulator([]) as emulator,
        BusTransport(emulator.path, 2400) as transport,
        pytest.raises(ValueError, match="not 4800"),
    ):
        MbusMaster(transport).switch_baud(3, 4800)
