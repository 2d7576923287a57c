"""USB radio dongles: recognising them from udev properties, and watching them come and go.

Known dongles are matched by vendor/product id (and product name where a generic USB-serial
chip is used); a generic FTDI or CP210x bridge yields the families to probe in turn. These
ids come from vendors' documentation and field reports and are marked [unverified] where
no dongle was at hand to check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Dongle:
    """A radio dongle found on USB: its tty and the module families it may carry."""

    device: str  # e.g. /dev/ttyUSB0
    candidates: tuple[str, ...]  # module family names, most likely first
    vendor_id: str
    product_id: str
    model: str
    serial: str


# (vendor id, product id) -> module families, most likely first.
KNOWN_IDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("10c4", "87ed"): ("im871a",),  # IMST iM871A-USB (CP2102 with IMST ids) [unverified]
    ("03eb", "204b"): ("cul",),  # busware CUL / nanoCUL (culfw, Atmel USB) [unverified]
    ("0bda", "2838"): ("rtlwmbus",),  # RTL2832U SDR stick, read through rtl_wmbus
    # IMST iU891A-XL: its USB vendor/product ids are not established from public sources,
    # so it has no entry here (an invented id could claim someone else's device). It is
    # recognised by its product string on the generic bridges (MODEL_HINTS) and by probing.
}
# Generic USB-serial bridges: any module family may sit behind them. The iU891A comes
# last: which bridge chip (if any) it uses is not established either.
GENERIC_BRIDGES: dict[tuple[str, str], tuple[str, ...]] = {
    ("0403", "6001"): ("amb8465", "rc1180", "im871a", "cul", "iu891a"),  # FTDI FT232R
    ("0403", "6015"): ("amb8465", "rc1180", "im871a", "cul", "iu891a"),  # FTDI FT-X
    ("10c4", "ea60"): ("im871a", "amb8465", "rc1180", "cul", "iu891a"),  # Silicon Labs CP210x
}
# Product strings that name the module on generic bridges [unverified].
MODEL_HINTS: dict[str, str] = {
    "amb8465": "amb8465",
    "metis": "amb8465",
    "im871a": "im871a",
    "iu891a": "iu891a",  # iU891A-XL USB stick
    "im891a": "iu891a",  # iM891A-XL module on a bridge board (same device-info table)
    "rc1180": "rc1180",
    "cul": "cul",
}


def recognise(properties: Mapping[str, str]) -> Dongle | None:
    """A dongle from a tty device's udev properties, or None if it is not one of ours."""
    device = properties.get("DEVNAME", "")
    vendor = properties.get("ID_VENDOR_ID", "").lower()
    product = properties.get("ID_MODEL_ID", "").lower()
    model = properties.get("ID_MODEL", "") or properties.get("ID_MODEL_FROM_DATABASE", "")
    serial = properties.get("ID_SERIAL_SHORT", "") or properties.get("ID_SERIAL", "")
    if not device or not vendor:
        return None
    key = (vendor, product)
    candidates = KNOWN_IDS.get(key)
    if candidates is None and key in GENERIC_BRIDGES:
        hinted = [name for hint, name in MODEL_HINTS.items() if hint in model.lower()]
        rest = [c for c in GENERIC_BRIDGES[key] if c not in hinted]
        candidates = tuple(dict.fromkeys(hinted + rest))
    if candidates is None:
        return None
    return Dongle(device, candidates, vendor, product, model, serial)


class UsbWatcher:
    """Calls ``on_change(action, dongle)`` when a known dongle is plugged in or pulled out.

    Uses a pyudev monitor on the tty subsystem; ``scan()`` lists what is there already.
    Runs in pyudev's observer thread: callers hop back to their loop themselves.
    """

    def __init__(self, on_change: Callable[[str, Dongle], None]) -> None:
        self.on_change = on_change
        self._observer: Any = None

    def scan(self) -> list[Dongle]:
        """Dongles present now."""
        import pyudev

        context = pyudev.Context()
        found = []
        for device in context.list_devices(subsystem="tty"):
            dongle = recognise(dict(device.properties))
            if dongle is not None:
                found.append(dongle)
        return found

    def start(self) -> None:
        """Start watching udev events."""
        import pyudev

        context = pyudev.Context()
        monitor = pyudev.Monitor.from_netlink(context)
        monitor.filter_by(subsystem="tty")

        def event(action: str, device: Any) -> None:
            dongle = recognise(dict(device.properties))
            if dongle is not None and action in ("add", "remove"):
                log.info("USB %s: %s (%s)", action, dongle.device, ", ".join(dongle.candidates))
                self.on_change(action, dongle)

        self._observer = pyudev.MonitorObserver(monitor, event)
        self._observer.start()

    def stop(self) -> None:
        """Stop watching."""
        if self._observer is not None:
            self._observer.stop()
            self._observer = None
