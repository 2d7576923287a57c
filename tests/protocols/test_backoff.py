"""protocols.backoff: delays between attempts, for the radio and the uplink alike."""

from __future__ import annotations

import random

import pytest

from protocols.backoff import Backoff


def test_delays_double_up_to_the_maximum() -> None:
    backoff = Backoff(0.1, 0.5)
    assert [backoff.next_delay() for _ in range(5)] == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])


def test_reset_starts_again_from_the_initial_delay() -> None:
    backoff = Backoff(1.0, 8.0)
    backoff.next_delay()
    backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == 1.0


def test_jitter_scales_each_delay_into_its_upper_half() -> None:
    backoff = Backoff(1.0, 8.0, rng=random.Random(3))
    for base in (1, 2, 4, 8, 8):
        assert base / 2 <= backoff.next_delay() < base


@pytest.mark.parametrize(("initial", "maximum", "factor"), [(0, 1, 2), (2, 1, 2), (1, 2, 0.5)])
def test_nonsense_delays_are_refused(initial: float, maximum: float, factor: float) -> None:
    with pytest.raises(ValueError, match="initial"):
        Backoff(initial, maximum, factor)
