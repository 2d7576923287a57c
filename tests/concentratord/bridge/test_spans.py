"""On-spans: the time something was on, measured over the last day."""

from __future__ import annotations

from concentratord.bridge.spans import DAY, OnSpans


def test_closed_spans_add_up_within_the_range() -> None:
    spans = OnSpans()
    spans.begin(100.0)
    spans.end(200.0)
    spans.begin(300.0)
    spans.end(350.0)
    assert spans.seconds(0.0, 1000.0) == 150.0
    assert spans.seconds(150.0, 320.0) == 70.0


def test_an_open_span_counts_up_to_the_end_of_the_range() -> None:
    spans = OnSpans()
    spans.begin(100.0)
    assert spans.on
    assert spans.seconds(0.0, 160.0) == 60.0


def test_begin_while_on_and_end_while_off_change_nothing() -> None:
    spans = OnSpans()
    spans.end(10.0)
    spans.begin(100.0)
    spans.begin(150.0)
    spans.end(200.0)
    spans.end(250.0)
    assert spans.count == 1
    assert spans.seconds(0.0, 1000.0) == 100.0


def test_spans_older_than_a_day_are_forgotten() -> None:
    spans = OnSpans()
    spans.begin(0.0)
    spans.end(10.0)
    spans.begin(DAY + 20.0)
    assert spans.seconds(0.0, DAY + 30.0) == 10.0
    assert spans.begun(0.0, DAY + 30.0) == 1
    assert spans.count == 2
