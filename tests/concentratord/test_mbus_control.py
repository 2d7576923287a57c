"""``concentratorctl mbus``: the daemon's side of its arguments (concentratord/mbus_control.py)."""

from __future__ import annotations

import pytest

from concentratord.control import ControlError
from concentratord.mbus_control import _address, summary_line


def test_a_number_up_to_250_is_a_primary_address() -> None:
    assert _address("7") == 7 and _address(250) == 250


def test_sixteen_decimal_digits_are_a_secondary_address_not_a_number() -> None:
    assert _address("0000000500000000") == "0000000500000000"


def test_a_secondary_address_is_taken_in_upper_case() -> None:
    assert _address("332211002d2c0304") == "332211002D2C0304"


def test_anything_else_is_refused_with_both_forms_named() -> None:
    with pytest.raises(ControlError, match="0-250 or 16 hex digits"):
        _address("251")


def test_the_summary_reads_as_the_local_commands() -> None:
    line = summary_line(
        {"kind": "secondary", "found": 3, "probes": 40, "collisions": 2, "unresolved": 0}
    )
    assert line == "mbus scan (secondary): 3 slave(s) found, 40 probes, 2 collisions"
