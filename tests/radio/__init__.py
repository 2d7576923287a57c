"""Tests of the radio package: module drivers against emulators on real ptys, the simulated
field, probing and USB matching."""
