"""Helpers shared by the configuration tests: files in tmp_path with the right modes."""

from __future__ import annotations

import os
from pathlib import Path

KEY_LINE = "76348799 000102030405060708090A0B0C0D0E0F\n"

MINIMAL = """\
[gateway]
id = "gw-test"
profile = "{profile}"

[uplink]
broker = "mqtt://127.0.0.1:1883"
"""


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    """Write ``text`` to ``path`` with permission bits ``mode``."""
    path.write_text(text)
    os.chmod(path, mode)
    return path


def config_file(tmp_path: Path, text: str, name: str = "concentratord.toml") -> Path:
    """A configuration file in tmp_path."""
    return write(tmp_path / name, text, 0o640)


def minimal(tmp_path: Path, extra: str = "", profile: str = "concentrator") -> Path:
    """The smallest valid configuration for ``profile``, followed by ``extra``."""
    return config_file(tmp_path, MINIMAL.format(profile=profile) + extra)


def ids(count: int, start: int = 10_000_000) -> list[str]:
    """``count`` distinct 8-digit meter ids."""
    return [str(start + n) for n in range(count)]


def toml_list(values: list[str]) -> str:
    """A TOML array of strings."""
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"
