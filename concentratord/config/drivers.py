"""``[drivers]``: an operator's meter drivers as data files (docs/drivers.md); the files
are read by :mod:`concentratord.driver_files` (without the configuration model, so that
``decode`` and ``analyze`` start quickly)."""

from __future__ import annotations

from concentratord.config.sections import PathStr, Section


class DriversConfig(Section):
    """``[drivers]``: where an operator's data drivers are (``*.toml``; none by default)."""

    dir: PathStr | None = None
