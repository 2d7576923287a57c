"""Hardware-in-the-loop: the radio scenarios against a real module on a real port.

Set CONCENTRATORD_HIL_PORT (e.g. /dev/ttyUSB0) and CONCENTRATORD_HIL_MODULE (im871a, iu891a,
amb8465, rc1180, cul, rtlwmbus, rawtty); without them every test here is skipped with that
reason. See docs/hil.md.
"""

from __future__ import annotations

import os

import pytest

PORT = os.environ.get("CONCENTRATORD_HIL_PORT")
MODULE = os.environ.get("CONCENTRATORD_HIL_MODULE")


@pytest.fixture
def hil_port() -> str:
    if not PORT or not MODULE:
        pytest.skip("no real module: set CONCENTRATORD_HIL_PORT and CONCENTRATORD_HIL_MODULE")
    return PORT


@pytest.fixture
def hil_module() -> str:
    if not PORT or not MODULE:
        pytest.skip("no real module: set CONCENTRATORD_HIL_PORT and CONCENTRATORD_HIL_MODULE")
    return MODULE
