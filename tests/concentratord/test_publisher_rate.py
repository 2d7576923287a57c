"""The backlog rate: a token bucket with a burst of one in-flight window."""

from __future__ import annotations

from concentratord.publisher import TokenBucket


def test_a_full_bucket_allows_one_window_at_once() -> None:
    bucket = TokenBucket(rate=10.0, burst=20, now=0.0)
    assert bucket.take(50, now=0.0) == 20


def test_an_empty_bucket_refills_at_the_rate() -> None:
    bucket = TokenBucket(rate=10.0, burst=20, now=0.0)
    bucket.take(20, now=0.0)
    assert bucket.take(20, now=0.5) == 5


def test_wait_says_how_long_until_the_next_token() -> None:
    bucket = TokenBucket(rate=10.0, burst=20, now=0.0)
    bucket.take(20, now=0.0)
    assert abs(bucket.wait(now=0.05) - 0.05) < 1e-9


def test_tokens_never_exceed_the_burst() -> None:
    bucket = TokenBucket(rate=10.0, burst=20, now=0.0)
    assert bucket.take(100, now=3600.0) == 20
