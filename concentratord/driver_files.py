"""Reading an operator's meter drivers (``drivers.dir``, ``--drivers DIR``): every
``*.toml`` of a directory checked with the fault named by file and key (docs/drivers.md).

Kept apart from the configuration model (pydantic) so that the one-shot tools
(``concentratord decode``, ``analyze``, ``drivers``) do not pay for importing it.
"""

from __future__ import annotations

import os

from protocols.meters.builtin_data import parse_driver
from protocols.meters.data_driver import DataDriver, DriverDataError
from protocols.meters.registry import BUILTIN, DriverConflictError, Registry

# Limits of what drivers.dir may hold: a driver is a meter's fields, not a database.
MAX_DRIVER_FILES = 1000
MAX_DRIVER_FILE_BYTES = 256 * 1024


class DriverFileError(Exception):
    """A file of ``drivers.dir`` cannot be used: the message names it (and its key)."""


def _read(path: str) -> str:
    try:
        size = os.path.getsize(path)
        if size > MAX_DRIVER_FILE_BYTES:
            raise DriverFileError(f"{path}: {size} bytes, at most {MAX_DRIVER_FILE_BYTES}")
        with open(path, encoding="utf-8") as f:
            return f.read()
    except UnicodeDecodeError:
        raise DriverFileError(f"{path}: not UTF-8 text") from None
    except OSError as err:
        raise DriverFileError(f"{path}: cannot be read: {err.strerror}") from None


def read_driver_dir(directory: str) -> tuple[DataDriver, ...]:
    """Every ``*.toml`` of ``directory`` (by name), validated; DriverFileError otherwise."""
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".toml"))
    except OSError as err:
        raise DriverFileError(f"{directory}: cannot be listed: {err.strerror}") from None
    if len(names) > MAX_DRIVER_FILES:
        raise DriverFileError(f"{directory}: {len(names)} files, at most {MAX_DRIVER_FILES}")
    drivers = []
    for name in names:
        path = os.path.join(directory, name)
        try:
            drivers.append(parse_driver(_read(path), path))
        except DriverDataError as err:
            raise DriverFileError(str(err)) from None
    return tuple(drivers)


def driver_registry(directory: str | None) -> Registry:
    """The built-in drivers, with those of ``directory`` added (DriverFileError naming the
    file when one is not valid or claims a meter or a name already taken)."""
    if directory is None:
        return BUILTIN
    drivers = read_driver_dir(directory)
    try:
        return BUILTIN.extended(drivers)
    except DriverConflictError as err:
        raise DriverFileError(f"{directory}: {err}") from None
