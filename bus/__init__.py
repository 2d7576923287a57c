"""Wired M-Bus master (EN 13757-2): the serial transport to a level converter and the
request manager that polls and scans the slaves behind it.

The layering mirrors ``radio/``: :mod:`bus.transport` owns the serial port and the answer
window, the pure link layer is :mod:`protocols.mbus`, and :mod:`bus.master` turns requests
and answers into reads and scans. ``bus`` imports ``protocols`` only (never ``radio``,
``uplink`` or the daemon).
"""
