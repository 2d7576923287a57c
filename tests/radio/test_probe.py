"""``auto``: the module family on a port is found by asking each in turn."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from radio.probe import probe
from radio.sim.registry import emulator_class


@pytest.mark.parametrize("module", ["im871a", "iu891a", "amb8465", "cul", "rc1180"])
def test_probe_finds_the_family_that_answers(module: str) -> None:
    emulator = emulator_class(module)()
    emulator.start()
    try:
        found = asyncio.run(probe(emulator.path, timeout=3.0))
    finally:
        emulator.close()
    assert found is not None and found.name == module


def test_probe_finds_nothing_on_a_port_that_is_not_there(tmp_path: Path) -> None:
    assert asyncio.run(probe(str(tmp_path / "ttyUSB9"), timeout=0.5)) is None
