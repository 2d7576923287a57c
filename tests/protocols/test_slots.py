"""protocols/slots.py: the fast constructors give the objects the classes' own would."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from protocols.slots import slot_constructor
from protocols.telegram import MeterAddress, Telegram

METER = MeterAddress("KAM", "12345678", 1, 7)


def test_a_telegram_made_fast_equals_one_made_by_its_class() -> None:
    args = dict(
        link=METER, meter=METER, c_field=8, ci=0x72, access_number=1, status=4,
        configuration=None, security_mode=0, encrypted=False, payload=b"\x01",
    )  # fmt: skip
    fast = slot_constructor(Telegram)(**args)
    assert fast == Telegram(**args)  # type: ignore[arg-type]
    assert (fast.records, fast.warnings, fast.wired) == ((), (), False)  # the defaults


def test_a_class_with_a_post_init_is_refused() -> None:
    @dataclass(frozen=True, slots=True)
    class Checked:
        value: int

        def __post_init__(self) -> None:
            raise ValueError

    with pytest.raises(TypeError, match="__post_init__"):
        slot_constructor(Checked)


def test_a_class_without_slots_is_refused() -> None:
    @dataclass(frozen=True)
    class Plain:
        value: int

    with pytest.raises(TypeError, match="slots"):
        slot_constructor(Plain)
