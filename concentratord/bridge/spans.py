"""Spans of gateway time during which something was on (the radio listening, an uplink
session), kept for the last day: what the power budget is measured from."""

from __future__ import annotations

from collections import deque

DAY = 86_400.0


class OnSpans:
    """``[start, end)`` spans of gateway time, the newest possibly still open."""

    def __init__(self, keep_s: float = DAY) -> None:
        self.keep_s = keep_s
        self._spans: deque[tuple[float, float | None]] = deque()
        self.count = 0  # spans begun since start

    @property
    def on(self) -> bool:
        """Whether the newest span is still open."""
        return bool(self._spans) and self._spans[-1][1] is None

    @property
    def last_begin(self) -> float:
        """When the newest span began (0 before any)."""
        return self._spans[-1][0] if self._spans else 0.0

    def begin(self, when: float) -> None:
        """A span begins at ``when`` (no-op when one is open)."""
        if not self.on:
            self._spans.append((when, None))
            self.count += 1
        self._forget(when)

    def end(self, when: float) -> None:
        """The open span ends at ``when`` (no-op when none is open)."""
        if self.on:
            start, _ = self._spans.pop()
            self._spans.append((start, max(start, when)))
        self._forget(when)

    def _forget(self, now: float) -> None:
        horizon = now - self.keep_s
        while self._spans and (end := self._spans[0][1]) is not None and end < horizon:
            self._spans.popleft()

    def seconds(self, since: float, until: float) -> float:
        """How long a span was open within ``[since, until)``."""
        total = 0.0
        for start, end in self._spans:
            stop = until if end is None else end
            total += max(0.0, min(stop, until) - max(start, since))
        return total

    def begun(self, since: float, until: float) -> int:
        """Spans that began within ``[since, until)``."""
        return sum(1 for start, _ in self._spans if since <= start < until)
