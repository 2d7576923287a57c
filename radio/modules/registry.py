"""Module families by name, as the configuration and the CLI spell them.

Imported lazily: a process that drives one module family loads only that driver.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the names are needed by the CLI and the configuration at every start
    from radio.driver import ModuleDriver

# name -> (module path, driver class)
DRIVERS: dict[str, tuple[str, str]] = {
    "im871a": ("radio.modules.imst", "Im871aDriver"),
    "iu891a": ("radio.modules.iu891a", "Iu891aDriver"),
    "amb8465": ("radio.modules.amber", "Amb8465Driver"),
    "rc1180": ("radio.modules.radiocrafts", "Rc1180Driver"),
    "cul": ("radio.modules.cul", "CulDriver"),
    "rtlwmbus": ("radio.modules.rtlwmbus", "RtlWmbusDriver"),
    "rawtty": ("radio.modules.rawtty", "RawTtyDriver"),
}


# What ``[radio] module`` and ``listen --module`` accept: every family, or ``auto`` (probe).
MODULE_NAMES: tuple[str, ...] = (*DRIVERS, "auto")


def driver_class(name: str) -> type[ModuleDriver]:
    """The driver class for a module family name; KeyError naming the known ones."""
    try:
        module_path, class_name = DRIVERS[name]
    except KeyError:
        raise KeyError(f"unknown module {name!r}; known: {', '.join(DRIVERS)}") from None
    cls: type[ModuleDriver] = getattr(importlib.import_module(module_path), class_name)
    return cls
