"""Module emulators on real pseudo-terminals and a simulated meter field."""
