"""The daemon's log: journald priorities and no timestamps under systemd, the plain form
elsewhere, the level as asked; ``--version`` of both commands."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from concentratord import __version__
from concentratord.logs import setup_logging, to_journal

BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def journal_env(path: Path) -> dict[str, str]:
    stat = os.stat(path)
    return {"JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}"}


def logged(tmp_path: Path, level: str, environ: dict[str, str] | None = None) -> str:
    out = tmp_path / "stderr"
    out.touch()
    with out.open("w") as stream:
        env = environ if environ is not None else journal_env(out)
        setup_logging(level, stream=stream, environ=env)
        log = logging.getLogger("concentratord.test")
        log.debug("debug line")
        log.info("info line")
        log.error("error line")
    return out.read_text()


def test_under_systemd_lines_carry_the_journal_priority_and_no_time(tmp_path: Path) -> None:
    assert logged(tmp_path, "info").splitlines() == [
        "<6>concentratord.test: info line",
        "<3>concentratord.test: error line",
    ]


def test_elsewhere_lines_carry_their_time_and_level(tmp_path: Path) -> None:
    first = logged(tmp_path, "info", environ={}).splitlines()[0]
    assert first.endswith(" INFO concentratord.test: info line")
    assert first[:4].isdigit()  # the year of the timestamp


def test_the_level_drops_what_is_below_it(tmp_path: Path) -> None:
    assert "info line" not in logged(tmp_path, "warning")
    assert "<7>concentratord.test: debug line" in logged(tmp_path, "debug")


def test_a_journal_stream_of_another_file_is_not_ours(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.touch()
    mine = tmp_path / "mine"
    with mine.open("w") as stream:
        assert to_journal(stream, journal_env(other)) is False
        assert to_journal(stream, journal_env(mine)) is True


def test_a_traceback_keeps_the_priority_on_every_line(tmp_path: Path) -> None:
    out = tmp_path / "stderr"
    out.touch()
    with out.open("w") as stream:
        setup_logging("info", stream=stream, environ=journal_env(out))
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("x").exception("failed")
    lines = out.read_text().splitlines()
    assert len(lines) > 2 and all(line.startswith("<3>") for line in lines)


@pytest.mark.parametrize("command", ["concentratord", "concentratorctl"])
def test_version_prints_the_package_version(command: str) -> None:
    result = subprocess.run(
        [str(BIN / command), "--version"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"{command} {__version__}"


def test_an_unknown_log_level_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "concentratord"), "run", "--config", "/nonexistent.toml", "--log-level", "loud"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "--log-level" in result.stderr
