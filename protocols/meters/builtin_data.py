"""The package's own data drivers (``protocols/meters/drivers/*.toml``).

They are package resources read once at import, like the Python modules beside them
(decision 0010): never a path from configuration, the clock or the network, so the
protocols package stays pure. An operator's drivers (``drivers.dir``) are read by the
daemon and given to :meth:`protocols.meters.registry.Registry.extended`.
"""

from __future__ import annotations

import tomllib
from importlib import resources

from protocols.meters.data_driver import DataDriver, DriverDataError, driver_from_table

PACKAGE = "protocols.meters.drivers"


def parse_driver(text: str, source: str) -> DataDriver:
    """One driver file's text; DriverDataError naming ``source`` when it is not valid."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise DriverDataError(source, "(file)", f"not TOML: {err}") from None
    return driver_from_table(table, source)


def builtin_data_drivers() -> tuple[DataDriver, ...]:
    """Every data driver of the package, in file-name order."""
    files = sorted(
        (f for f in resources.files(PACKAGE).iterdir() if f.name.endswith(".toml")),
        key=lambda f: f.name,
    )
    return tuple(
        parse_driver(f.read_text(encoding="utf-8"), f"protocols/meters/drivers/{f.name}")
        for f in files
    )
