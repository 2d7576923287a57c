"""Module emulators by module family name."""

from __future__ import annotations

import importlib

from radio.sim.emulator import ModuleEmulator

EMULATORS: dict[str, tuple[str, str]] = {
    "im871a": ("radio.sim.imst", "Im871aEmulator"),
    "iu891a": ("radio.sim.iu891a", "Iu891aEmulator"),
    "amb8465": ("radio.sim.amber", "Amb8465Emulator"),
    "rc1180": ("radio.sim.radiocrafts", "Rc1180Emulator"),
    "cul": ("radio.sim.cul", "CulEmulator"),
    "rtlwmbus": ("radio.sim.rtlwmbus", "RtlWmbusEmulator"),
    "rawtty": ("radio.sim.rawtty", "RawTtyEmulator"),
}


def emulator_class(name: str) -> type[ModuleEmulator]:
    """The emulator class for a module family name."""
    try:
        module_path, class_name = EMULATORS[name]
    except KeyError:
        raise KeyError(f"unknown module {name!r}; known: {', '.join(EMULATORS)}") from None
    cls: type[ModuleEmulator] = getattr(importlib.import_module(module_path), class_name)
    return cls
