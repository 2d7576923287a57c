"""Benchmark scenarios (DESIGN.md section 7): each prints its figure and writes JSON."""
