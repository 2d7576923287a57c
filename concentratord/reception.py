"""How well the gateway hears one meter: counts, signal, its transmission interval and the
share of its telegrams received (docs/visibility.md).

Pure: every method takes the time it is asked about. Kept small per meter (under 600
bytes, bench/visibility_cost.py) because a gateway tracks up to 30,000 of them: the signal
as running figures, the interval from the last :data:`GAPS` gaps between telegrams, and the
telegrams of the window counted in :data:`BUCKETS` buckets rather than one timestamp each.

The interval is robust to lost telegrams: a gap spans one or more intervals, so each gap is
divided by its number of intervals (its ratio to the shortest gap, rounded) and the median
of those taken. The reception rate is telegrams received in the window over telegrams
expected in it (the span heard, divided by the interval).
"""

from __future__ import annotations

import statistics
from array import array
from dataclasses import dataclass, field
from typing import Any, Literal

Decode = Literal["ok", "no_key", "wrong_key", "error", "over_limit"]
Quality = Literal["good", "poor", "unknown"]

GAPS = 16  # gaps between telegrams kept for the interval estimate
MIN_GAPS = 3  # gaps needed before an interval is given
BUCKETS = 24  # the window in buckets (an hour each for the default 24 h window)
# A gap shorter than this is not a transmission interval (a retransmission, a second
# telegram type sent right after the first): not used for the estimate.
MIN_GAP_S = 1.0
# The telegram due after the last one heard is not counted as missing before this many
# intervals have passed (jitter, and the one being received now).
GRACE_INTERVALS = 1.5
BUCKET_MAX = 65_535  # telegrams a bucket counts (a telegram a second for 18 h)


def _gap_array() -> array[float]:
    return array("f")


def _bucket_array() -> array[int]:
    return array("H", bytes(2 * BUCKETS))  # 16 bits: a bucket counts at most BUCKET_MAX


@dataclass(slots=True)
class Reception:
    """One meter's reception statistics; ``window_s`` is the reception-rate window."""

    window_s: float
    first_heard: float = 0.0
    last_heard: float = 0.0
    telegrams: int = 0
    rssi_last: float | None = None
    rssi_min: float | None = None
    rssi_max: float | None = None
    rssi_sum: float = 0.0
    rssi_count: int = 0
    link_mode: str = ""
    decode: Decode = "no_key"
    interval_s: float | None = None  # the estimate; None until MIN_GAPS gaps are known
    gaps: array[float] = field(default_factory=_gap_array)  # a ring of the last GAPS
    gap_next: int = 0
    buckets: array[int] = field(default_factory=_bucket_array)  # telegrams per bucket
    bucket: int = -1  # the bucket number (time // bucket_s) of the newest telegram
    silent: bool = False  # METER_SILENT raised and not cleared yet

    @property
    def bucket_s(self) -> float:
        """The width of one window bucket in seconds."""
        return self.window_s / BUCKETS

    def heard(
        self,
        when: float,
        rssi_dbm: float | None,
        link_mode: str,
        interval_s: float | None = None,
    ) -> None:
        """Count one telegram (not a repeat) received at ``when``. ``interval_s``: the
        interval the sender is known to keep (a wired meter's poll interval), which then
        stands instead of the estimate from the gaps (polls that ran late or were missed
        would otherwise skew it)."""
        if self.telegrams == 0:
            self.first_heard = when
        elif when - self.last_heard >= MIN_GAP_S:
            self._add_gap(when - self.last_heard)
        if interval_s is not None:
            self.interval_s = interval_s
        self.telegrams += 1
        self.last_heard = max(self.last_heard, when)
        self.link_mode = link_mode
        if rssi_dbm is not None:
            self.rssi_last = rssi_dbm
            self.rssi_min = rssi_dbm if self.rssi_min is None else min(self.rssi_min, rssi_dbm)
            self.rssi_max = rssi_dbm if self.rssi_max is None else max(self.rssi_max, rssi_dbm)
            self.rssi_sum += rssi_dbm
            self.rssi_count += 1
        bucket = int(when // self.bucket_s)
        self._advance(bucket)
        slot = bucket % BUCKETS
        if self.buckets[slot] < BUCKET_MAX:
            self.buckets[slot] += 1

    def _add_gap(self, gap: float) -> None:
        if len(self.gaps) < GAPS:
            self.gaps.append(gap)
        else:
            self.gaps[self.gap_next] = gap
            self.gap_next = (self.gap_next + 1) % GAPS
        if len(self.gaps) >= MIN_GAPS:
            self.interval_s = estimate_interval(self.gaps)

    def _advance(self, bucket: int) -> None:
        """Move the window to end in ``bucket``, emptying the buckets it leaves behind."""
        if bucket <= self.bucket:
            return
        if self.bucket < 0 or bucket - self.bucket >= BUCKETS:
            for i in range(BUCKETS):
                self.buckets[i] = 0
        else:
            for b in range(self.bucket + 1, bucket + 1):
                self.buckets[b % BUCKETS] = 0
        self.bucket = bucket

    @property
    def rssi_mean(self) -> float | None:
        """The mean RSSI of the telegrams heard, in dBm."""
        return self.rssi_sum / self.rssi_count if self.rssi_count else None

    def received_in_window(self, now: float) -> tuple[int, float]:
        """Telegrams received in the window ending at ``now``, and where the window starts."""
        bucket = int(now // self.bucket_s)
        oldest = bucket - BUCKETS + 1
        count = 0
        for b in range(max(oldest, self.bucket - BUCKETS + 1), self.bucket + 1):
            if b >= oldest:
                count += self.buckets[b % BUCKETS]
        return count, oldest * self.bucket_s

    def reception_rate(self, now: float) -> float | None:
        """Received / expected over the window ending at ``now``; None before the interval
        is known."""
        interval = self.interval_s
        if interval is None or self.telegrams == 0:
            return None
        received, window_start = self.received_in_window(now)
        # Until the next telegram is overdue the span ends at the last one heard: a meter
        # heard on time is at 100 %, whenever it is asked.
        end = self.last_heard if now - self.last_heard < GRACE_INTERVALS * interval else now
        if self.first_heard >= window_start:
            expected = 1.0 + (end - self.first_heard) / interval
        else:
            expected = (end - window_start) / interval
        if expected <= 0:
            return None
        return min(1.0, received / expected)

    def quality(self, now: float, good_rate: float) -> Quality:
        """The quality of the reception rate at ``now`` (:func:`quality_of`)."""
        return quality_of(self.reception_rate(now), good_rate)

    def is_silent(self, now: float, silent_after: int) -> bool:
        """Whether ``silent_after`` expected telegrams in a row have not come."""
        interval = self.interval_s
        return interval is not None and now - self.last_heard > silent_after * interval

    # -- kept across restarts ---------------------------------------------------------------

    def dump(self) -> list[Any]:
        """A compact form for the store (see :meth:`load`): the figures, the interval and
        the window's counts, not the gaps (the interval stands until new gaps replace it)."""
        return [
            self.first_heard,
            self.last_heard,
            self.telegrams,
            self.rssi_last,
            self.rssi_min,
            self.rssi_max,
            self.rssi_sum,
            self.rssi_count,
            self.link_mode,
            self.decode,
            self.interval_s,
            list(self.buckets),
            self.bucket,
            self.silent,
        ]

    @classmethod
    def load(cls, window_s: float, data: list[Any]) -> Reception:
        """The statistics :meth:`dump` gave; ``ValueError`` when ``data`` is not such."""
        try:
            (first, last, telegrams, r_last, r_min, r_max, r_sum, r_count) = data[:8]
            link_mode, decode, interval, buckets, bucket, silent = data[8:14]
            bucket_array = array("H", (min(int(n), BUCKET_MAX) for n in buckets))
            out = cls(
                window_s,
                float(first),
                float(last),
                int(telegrams),
                None if r_last is None else float(r_last),
                None if r_min is None else float(r_min),
                None if r_max is None else float(r_max),
                float(r_sum),
                int(r_count),
                str(link_mode),
                decode,
                None if interval is None else float(interval),
                buckets=bucket_array,
                bucket=int(bucket),
                silent=bool(silent),
            )
        except (TypeError, ValueError, OverflowError) as err:
            raise ValueError(f"not reception statistics: {err}") from None
        if len(bucket_array) != BUCKETS:
            raise ValueError("not reception statistics: wrong window size")
        if decode not in ("ok", "no_key", "wrong_key", "error", "over_limit"):
            raise ValueError(f"not reception statistics: decode {decode!r}")
        return out


def quality_of(rate: float | None, good_rate: float) -> Quality:
    """``good`` at or above ``good_rate``, ``poor`` below, ``unknown`` without a rate."""
    if rate is None:
        return "unknown"
    return "good" if rate >= good_rate else "poor"


def estimate_interval(gaps: array[float] | list[float]) -> float:
    """A meter's transmission interval from gaps between its telegrams, lost ones included.

    Each gap is a whole number of intervals (give or take jitter): its number is its ratio
    to the shortest gap, rounded; the median of gap / number is the interval.
    """
    shortest = min(gaps)
    return statistics.median(g / max(1, round(g / shortest)) for g in gaps)
