"""The ground-truth log: which telegram of a meter was the latest delivered by a time.

End-to-end tests ask "what should the gateway hold for meter M as of time T" and compare
it with what the daemon stored or published. The log keeps the last ``depth`` delivered
telegrams per meter (bounded: a 30,000-meter field sends a million telegrams an hour).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from radio.sim.field import Transmission


class TruthLog:
    """Delivered telegrams per meter, in time order, the last ``depth`` of each."""

    def __init__(self, depth: int = 256) -> None:
        self.depth = depth
        self._times: dict[str, list[float]] = {}
        self._txs: dict[str, list[Transmission]] = {}

    def record(self, tx: Transmission) -> None:
        """Note that ``tx`` was delivered (transmissions arrive in time order)."""
        if self.depth <= 0:
            return
        times = self._times.setdefault(tx.meter_id, [])
        txs = self._txs.setdefault(tx.meter_id, [])
        times.append(tx.t)
        txs.append(tx)
        if len(txs) > 2 * self.depth:  # trim in batches: amortised O(1) per telegram
            del times[: -self.depth]
            del txs[: -self.depth]

    def discard(self, tx: Transmission) -> None:
        """Forget ``tx``: it was made but never reached the gateway (module unplugged)."""
        txs = self._txs.get(tx.meter_id)
        if not txs:
            return
        for i in range(len(txs) - 1, -1, -1):
            if txs[i] is tx:
                del txs[i]
                del self._times[tx.meter_id][i]
                return

    def latest_before(self, meter_id: str, t: float) -> Transmission | None:
        """The latest telegram of ``meter_id`` delivered at or before simulated time ``t``."""
        times = self._times.get(meter_id)
        if not times:
            return None
        i = bisect_right(times, t)
        return self._txs[meter_id][i - 1] if i else None

    def values_before(self, meter_id: str, t: float) -> dict[str, Any] | None:
        """The decoded fields of :meth:`latest_before`, or None."""
        tx = self.latest_before(meter_id, t)
        return None if tx is None else dict(tx.truth)

    def count(self, meter_id: str) -> int:
        """How many telegrams of ``meter_id`` the log holds."""
        return len(self._txs.get(meter_id, ()))
