"""``auto``: find which module family answers on a port by asking each in turn."""

from __future__ import annotations

import logging

from protocols.backoff import Backoff
from radio.driver import ModuleDriver, ModuleError
from radio.frame import LinkMode
from radio.modules.registry import driver_class

log = logging.getLogger(__name__)

# Families with a handshake to recognise them by; rawtty and rtl_wmbus answer nothing,
# so a probe cannot tell them from silence. The iU891A comes right after the iM871A: the
# older stick is the installed base, and the two cannot be mistaken for each other (HCI
# start byte 0xA5 at 57600 baud against SLIP-framed requests with a CRC at 115200, each
# answered only when its CRC holds); the iU891A's 30 wake-up ENDs also close off whatever
# a probe before it left half-parsed in the module.
PROBE_ORDER = ("im871a", "iu891a", "amb8465", "cul", "rc1180")


async def probe(
    port: str, mode: LinkMode = LinkMode.C1, timeout: float = 2.0
) -> type[ModuleDriver] | None:
    """The first driver class whose module answers on ``port``, or None."""
    for name in PROBE_ORDER:
        try:
            cls = driver_class(name)
        except (KeyError, ImportError):
            continue
        driver = cls(port, mode, backoff=Backoff(0.1, 0.5))
        try:
            await driver.start(start_timeout=timeout)
        except ModuleError:
            log.debug("no %s on %s", name, port)
            continue
        await driver.stop()
        log.info("found %s on %s", name, port)
        return cls
    return None
