"""Benchmark scenarios (docs/design.md, "Performance goals"): each prints its figure and
writes JSON."""
