"""``concentratord drivers``: the driver registry as JSON lines and as docs/meters.md."""

from __future__ import annotations

import io
import json
from pathlib import Path

from concentratord.drivers_cmd import markdown, run_drivers
from protocols.meters.registry import BUILTIN

ROOT = Path(__file__).resolve().parents[2]


def test_docs_meters_md_is_the_registry_as_generated() -> None:
    written = (ROOT / "docs" / "meters.md").read_text()
    assert written == markdown(BUILTIN), "run: concentratord drivers --markdown > docs/meters.md"


def test_every_driver_is_listed_once_with_its_meters() -> None:
    out = io.StringIO()
    assert run_drivers(None, False, out) == 0
    listed = [json.loads(line) for line in out.getvalue().splitlines()]
    assert sorted(d["name"] for d in listed) == sorted(d.name for d in BUILTIN.drivers)
    kamwater = next(d for d in listed if d["name"] == "kamwater")
    assert {"manufacturer": "KAM", "version": "0x1B", "type": "0x16", "medium": "cold water"} in (
        kamwater["meters"]
    )


def test_a_directory_that_cannot_be_read_is_an_error(tmp_path: Path) -> None:
    assert run_drivers(str(tmp_path / "nowhere"), False, io.StringIO()) == 2


def test_a_directory_of_drivers_is_listed_with_the_package_ones(tmp_path: Path) -> None:
    (tmp_path / "acme.toml").write_text(
        'name = "acmewater"\nsources = ["data sheet"]\nmvt = [["ACM", 1, 7]]\n'
    )
    out = io.StringIO()
    assert run_drivers(str(tmp_path), False, out) == 0
    assert '"name": "acmewater"' in out.getvalue()
