"""``concentratord mbus scan|read`` against the emulated bus."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from concentratord.cli import main
from radio.sim.mbus_bus import EmulatedSlave, MbusBusEmulator


@pytest.fixture
def emulator() -> Iterator[MbusBusEmulator]:
    slaves = [
        EmulatedSlave(id="00112233", primary=2, manufacturer="KAM", version=3, medium=0x04),
        EmulatedSlave(id="44556677", primary=5, telegrams=[[(b"\x04\x13", 9.25)]]),
    ]
    emu = MbusBusEmulator(slaves).start()
    yield emu
    emu.stop()


def test_scan_primary_prints_json_lines_and_probe_count(
    emulator: MbusBusEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "mbus",
            "scan",
            "--port",
            emulator.path,
            "--baud",
            "9600",
            "--margin",
            "0.02",
            "--primary",
            "--addresses",
            "0-9",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines == [
        {"primary": 2, "id": "00112233", "manufacturer": "KAM", "version": 3, "medium": 4},
        {"primary": 5, "id": "44556677", "manufacturer": "ABB", "version": 1, "medium": 7},
    ]
    assert "2 slave(s) found, 12 probes" in err


def test_read_prints_the_decoded_meter(
    emulator: MbusBusEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "mbus",
            "read",
            "--port",
            emulator.path,
            "--baud",
            "9600",
            "--address",
            "5",
            "--margin",
            "0.02",
            "--records",
        ]
    )
    out, _ = capsys.readouterr()
    assert code == 0
    fields = json.loads(out)
    assert fields["id"] == "44556677" and fields["total_m3"] == pytest.approx(9.25)
    assert [r["key"] for r in fields["records"]] == ["0413"]


def test_read_by_secondary_address_selects_the_slave(
    emulator: MbusBusEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    secondary = "332211002D2C0304"  # id 00112233, KAM, version 3, medium 4: the first slave
    args = ["mbus", "read", "--port", emulator.path, "--baud", "9600", "--margin", "0.02"]
    code = main([*args, "--address", secondary])
    out, err = capsys.readouterr()
    assert code == 0, err
    fields = json.loads(out)
    assert (fields["id"], fields["manufacturer"]) == ("00112233", "KAM")


def test_read_of_an_absent_slave_fails(
    emulator: MbusBusEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "mbus",
            "read",
            "--port",
            emulator.path,
            "--baud",
            "9600",
            "--address",
            "77",
            "--margin",
            "0",
        ]
    )
    _, err = capsys.readouterr()
    assert code == 1 and "address 77: no answer" in err


def test_bad_port_is_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mbus", "scan", "--port", "/nonexistent/tty", "--addresses", "1"]) == 1
    assert "cannot open" in capsys.readouterr().err


def test_scan_secondary_prints_json_lines_and_probe_count(
    emulator: MbusBusEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "mbus",
            "scan",
            "--port",
            emulator.path,
            "--baud",
            "9600",
            "--margin",
            "0.005",
            "--secondary",
            "--manufacturers",
            "ABB,KAM",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines == [
        {
            "secondary": "332211002D2C0304",
            "id": "00112233",
            "manufacturer": "KAM",
            "version": 3,
            "medium": 4,
        },
        {
            "secondary": "7766554442040107",
            "id": "44556677",
            "manufacturer": "ABB",
            "version": 1,
            "medium": 7,
        },
    ]
    # ANY collides, then one probe for each first digit 0-9
    assert "2 slave(s) found, 11 probes, 1 collisions" in err


def test_bad_arguments_are_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mbus", "scan", "--port", "/dev/null", "--addresses", "9-3"]) == 2
    assert main(["mbus", "scan", "--port", "/dev/null", "--manufacturers", "AB"]) == 2
    assert main(["mbus", "read", "--port", "/dev/null", "--address", "251"]) == 2
    assert main(["mbus", "read", "--port", "/dev/null", "--address", "12AB"]) == 2
    assert "--addresses" in capsys.readouterr().err
