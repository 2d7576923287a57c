"""Fixtures shared by every test folder.

``broker``: a real Mosquitto (tests/mqtt_broker.py) on a free loopback port in the test's
temporary directory, started before the test and killed after it. Tests that stop, restart,
pause or kill it mid-test may: killing an ended broker again is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mqtt_broker import MosquittoBroker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    with MosquittoBroker(tmp_path / "broker") as running:
        yield running
