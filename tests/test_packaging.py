"""Packaging and layout contracts (docs/design.md, "Layout"; docs/decisions/0001).

- The one distribution installs the console scripts ``concentratord`` and ``concentratorctl``
  into the environment's bin directory, next to the Python that runs the tests.
- Imports point one way: ``concentratord -> {radio, bus, uplink} -> protocols``. ``protocols``
  imports nothing of ours (and does no I/O); ``radio``, ``bus`` (the wired M-Bus master) and
  ``uplink`` never import each other nor the daemon. Checked statically with :mod:`ast`,
  so a forbidden import inside a function or under ``TYPE_CHECKING`` counts too.
- What the code relies on is in the repository: no tracked text file cites the design or
  protocol notes kept outside it (docs/design.md and docs/cli.md hold what the code uses);
  the real-meter vectors that tests read at run time from ``../shared/vectors`` are allowed.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from tests.missing import missing

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTION = "concentratord"
PACKAGES = ("protocols", "radio", "bus", "uplink", "concentratord")
CONSOLE_SCRIPTS = {
    "concentratord": "concentratord.cli:main",
    "concentratorctl": "concentratord.ctl:main",
}

# package -> top-level modules it must never import
FORBIDDEN: dict[str, frozenset[str]] = {
    "protocols": frozenset({"radio", "bus", "uplink", "concentratord"}),
    "radio": frozenset({"bus", "uplink", "concentratord"}),
    "bus": frozenset({"radio", "uplink", "concentratord"}),
    "uplink": frozenset({"radio", "bus", "concentratord"}),
}

# protocols is pure: bytes in, values out. No sockets, serial ports, databases or processes.
PROTOCOLS_NO_IO = frozenset(
    {"socket", "ssl", "serial", "pyudev", "paho", "sqlite3", "aiosqlite", "subprocess"}
)


# ------------------------------------------------------------------------- console scripts


def _bin_dir() -> Path:
    return Path(sys.executable).parent


def _require_venv() -> None:
    assert sys.prefix != sys.base_prefix, (
        f"not running in a virtual environment ({sys.executable}); "
        "run the tests with .venv/bin/python -m pytest (make test)"
    )


@pytest.mark.parametrize("script", sorted(CONSOLE_SCRIPTS))
def test_console_script_installed_next_to_python(script: str) -> None:
    _require_venv()
    path = _bin_dir() / script
    assert path.is_file(), f"{path} missing: reinstall with `make setup`"
    assert os.access(path, os.X_OK), f"{path} is not executable"


@pytest.mark.parametrize(("script", "target"), sorted(CONSOLE_SCRIPTS.items()))
def test_console_script_entry_point(script: str, target: str) -> None:
    eps = {
        ep.name: ep
        for ep in metadata.distribution(DISTRIBUTION).entry_points
        if ep.group == "console_scripts"
    }
    assert script in eps, f"console script {script!r} not declared by {DISTRIBUTION}"
    assert eps[script].value == target
    assert callable(eps[script].load()), f"{target} is not callable"


@pytest.mark.parametrize("script", sorted(CONSOLE_SCRIPTS))
def test_console_script_help_exits_zero(script: str) -> None:
    _require_venv()
    done = subprocess.run(
        [str(_bin_dir() / script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), f"{script} --help printed nothing on stdout"


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_from_this_checkout(package: str) -> None:
    module = __import__(package)
    assert module.__file__ is not None
    assert Path(module.__file__).resolve().is_relative_to(ROOT / package)


# ------------------------------------------------------------------------- import direction


def _python_files(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def _imported_top_levels(path: Path) -> set[tuple[str, int]]:
    """(top-level module, line) for every absolute import in the file.

    Relative imports stay inside their package by construction (Python refuses to go above
    the top-level package), so only absolute ones can cross a boundary.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[tuple[str, int]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update((alias.name.split(".")[0], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], node.lineno))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add((node.args[0].value.split(".")[0], node.lineno))
    return found


def _violations(package: str, forbidden: frozenset[str]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line}: imports {module}"
        for path in _python_files(package)
        for module, line in sorted(_imported_top_levels(path))
        if module in forbidden
    ]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_import_direction(package: str) -> None:
    assert _python_files(package), f"no Python files under {package}/"
    bad = _violations(package, FORBIDDEN[package])
    assert not bad, f"{package} must not import {sorted(FORBIDDEN[package])}:\n" + "\n".join(bad)


def test_protocols_does_no_io() -> None:
    bad = _violations("protocols", PROTOCOLS_NO_IO)
    assert not bad, "protocols is pure (no I/O):\n" + "\n".join(bad)


def test_import_checker_sees_every_form(tmp_path: Path) -> None:
    """The checker itself: plain, from, nested, TYPE_CHECKING and importlib imports."""
    src = tmp_path / "m.py"
    src.write_text(
        "import os.path\n"
        "from typing import TYPE_CHECKING\n"
        "from . import sibling\n"
        "if TYPE_CHECKING:\n"
        "    from uplink.mqtt import Client\n"
        "def f():\n"
        "    import radio.serial as s\n"
        "    importlib.import_module('concentratord.cli')\n",
        encoding="utf-8",
    )
    modules = {m for m, _ in _imported_top_levels(src)}
    assert modules == {"os", "typing", "uplink", "radio", "concentratord"}


# ------------------------------------------------------------------ knowledge in the repository

# Files whose comments and prose may cite a source.
CITING_SUFFIXES = (".py", ".md", ".toml", ".sh")

# A citation of the notes that live outside the repository, by name or by path (the pattern
# is written so that it does not match itself). Reading the test vectors from
# ../shared/vectors at run time is allowed (tests/protocols/vectors.py).
OUTSIDE_CITATION = re.compile(
    r"\b(?:DESIGN|PROTOCOLS)\.md\b|\.\./shared/(?!vectors\b)|/work[/]shared\b"
)


def _tracked_text_files() -> list[Path]:
    """Tracked files (and new ones not ignored) that can carry a citation."""
    try:
        done = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            timeout=60,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as err:
        missing(f"not a git checkout ({err})")  # CI runs in a clone: the check runs there
    names = (n for n in done.stdout.decode("utf-8").split("\0") if n)
    return sorted(ROOT / n for n in names if n.endswith(CITING_SUFFIXES) and (ROOT / n).is_file())


def _outside_citations(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    return [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for number, line in enumerate(text.splitlines(), start=1)
        if OUTSIDE_CITATION.search(line)
    ]


def test_no_citation_of_documents_outside_the_repository() -> None:
    files = _tracked_text_files()
    assert files, "git ls-files listed no text files"
    bad = [hit for path in files for hit in _outside_citations(path)]
    assert not bad, (
        "cite docs/ (docs/design.md, docs/cli.md, ...) or the standard (EN 13757-x), "
        "not a document outside the repository:\n" + "\n".join(bad)
    )


@pytest.mark.parametrize(
    ("line", "flagged"),
    [
        ("# Keys are the daemon's alone (DESIGN{dot}md section 5).", True),
        ('"""Canonical units (DESIGN{dot}md §4)."""', True),
        ("media, see PROTOCOLS{dot}md §6", True),
        ("see ../shared{sep}DESIGN{dot}md", True),
        ("cat /work{sep}shared/notes.txt", True),
        ("The tests read the vectors from `../shared/vectors`", False),
        ('(docs/design.md, "Nothing accepted is lost")', False),
        ('PROTOCOLS: tuple[Protocol, ...] = ("auto", "5", "3.1.1")', False),
    ],
)
def test_outside_citation_pattern(line: str, flagged: bool) -> None:
    """The checker itself: the notes by name or path flagged, the vectors and docs/ not.

    The samples spell ``.`` and ``/`` as ``{dot}`` and ``{sep}`` so that this file does not
    cite what it forbids.
    """
    line = line.replace("{dot}", ".").replace("{sep}", "/")
    assert bool(OUTSIDE_CITATION.search(line)) is flagged


# tests/ mirrors the packages (docs/design.md, "Testing"): one folder per package, daemon/
# for the end-to-end tests of `concentratord run`; only this file checks the whole tree.
TEST_FOLDERS = ("protocols", "radio", "bus", "uplink", "concentratord", "daemon")


def test_tests_live_in_a_folder_per_package() -> None:
    tests = ROOT / "tests"
    loose = sorted(p.name for p in tests.glob("test_*.py") if p.name != "test_packaging.py")
    assert loose == []
    folders = sorted(p.name for p in tests.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert folders == sorted(TEST_FOLDERS)
