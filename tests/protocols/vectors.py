"""Where the real-meter test vectors live, and how tests reach them.

The vectors (../shared/vectors, or $CONCENTRATORD_VECTORS) are not part of the repository.
In CI (env CI set) a missing vector directory fails the test; elsewhere it skips with the
reason.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.missing import missing

DEFAULT_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "vectors"


def vectors_dir() -> Path:
    """The vector directory, or fail (CI) / skip (elsewhere) when it is missing."""
    path = Path(os.environ.get("CONCENTRATORD_VECTORS", DEFAULT_DIR))
    if not (path / "wmbus.jsonl").is_file():
        missing(f"test vectors not found at {path} (set CONCENTRATORD_VECTORS)")
    return path


def load_jsonl(name: str) -> list[dict[str, Any]]:
    """Every line of a JSON-lines vector file."""
    with (vectors_dir() / name).open() as f:
        return [json.loads(line) for line in f if line.strip()]


def load_json(name: str) -> Any:
    """A JSON vector file."""
    with (vectors_dir() / name).open() as f:
        return json.load(f)


def vectors_available() -> bool:
    """True when the vector directory exists (for building parametrisations)."""
    path = Path(os.environ.get("CONCENTRATORD_VECTORS", DEFAULT_DIR))
    return (path / "wmbus.jsonl").is_file()


KAMSTRUP_DRIVERS = frozenset({"kamwater", "kamheat", "kampress", "omnipower"})
