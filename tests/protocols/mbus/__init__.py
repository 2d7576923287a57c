"""Tests of the wired M-Bus protocol layer (protocols.mbus)."""
