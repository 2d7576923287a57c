"""Pure wireless M-Bus protocol stack: bytes -> frames -> telegrams -> readings, and back.

Nothing in this package touches a socket, a file or the clock, and nothing in it imports
the other concentratord packages.
"""
