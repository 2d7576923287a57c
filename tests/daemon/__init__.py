"""End-to-end tests: `concentratord run` started as a process against a real broker and an
emulated module (tests/daemon_harness.py)."""
