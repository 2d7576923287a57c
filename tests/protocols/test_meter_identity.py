"""A meter is its manufacturer and id: keys files name ``MAN:ID`` or an id for every
manufacturer, and the key of the exact meter wins (docs/uplink.md, "readings")."""

from __future__ import annotations

import pytest

from protocols.telegram import MeterAddress, key_for
from protocols.textformats import KeyFileError, parse_keys

KAM = MeterAddress("KAM", "12345678", 0x1B, 0x16)
ABC = MeterAddress("ABC", "12345678", 0x01, 0x07)
K1, K2 = bytes(range(16)), bytes(range(16, 32))


def test_a_keys_file_names_a_meter_by_manufacturer_and_id() -> None:
    keys = parse_keys(f"KAM:12345678 {K1.hex()}\nabc:12345678,{K2.hex()}\n", "keys")
    assert keys == {"KAM:12345678": K1, "ABC:12345678": K2}


def test_a_manufacturer_that_is_not_three_letters_is_refused() -> None:
    with pytest.raises(KeyFileError, match="three letters"):
        parse_keys(f"KA1:12345678 {K1.hex()}\n", "keys")


def test_the_key_of_the_exact_meter_wins_over_the_id_alone() -> None:
    keys = {"ABC:12345678": K2, "12345678": K1}
    assert key_for(keys, ABC) == K2
    assert key_for(keys, KAM) == K1


def test_an_id_alone_stands_for_that_id_of_every_manufacturer() -> None:
    assert key_for({"12345678": K1}, ABC) == K1


def test_another_manufacturers_key_is_not_used() -> None:
    assert key_for({"ABC:12345678": K2}, KAM) is None
