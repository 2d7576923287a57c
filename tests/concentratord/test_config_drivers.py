"""``drivers.dir``: an operator adds a meter without a release (issue 12, docs/drivers.md);
a file that is not a valid driver stops the start naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from concentratord.config import ConfigError, load_config, load_drivers
from concentratord.driver_files import MAX_DRIVER_FILE_BYTES
from concentratord.pipeline import Pipeline, Tenant
from protocols.records import encode_scaled
from protocols.telegram import MeterAddress
from protocols.wmbus.build import TelegramSpec, Tpl, build_telegram
from protocols.wmbus.link import FrameFormat
from radio.frame import LinkMode, RadioFrame
from tests.concentratord.config_helpers import minimal

ACME = MeterAddress("ACM", "12345678", 0x01, 0x07)
DRIVER = """
name = "acmewater"
sources = ["ACME water meter data sheet"]
base = "none"
mvt = [["ACM", 0x01, 0x07]]

[[field]]
name = "consumed"
quantity = "volume"
match = { vif = "volume" }
"""


def with_drivers(tmp_path: Path, files: dict[str, str]) -> Path:
    directory = tmp_path / "drivers.d"
    directory.mkdir()
    for name, text in files.items():
        (directory / name).write_text(text)
    return minimal(tmp_path, f'[drivers]\ndir = "{directory}"\n')


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value)


def test_a_driver_file_makes_its_meters_decode_with_its_names(tmp_path: Path) -> None:
    path = with_drivers(tmp_path, {"acme.toml": DRIVER})
    registry = load_drivers(load_config(path), str(path))
    raw = build_telegram(
        TelegramSpec(ACME, encode_scaled(bytes.fromhex("0413"), 3.5), tpl=Tpl.SHORT),
        None,
        FrameFormat.NONE,
    )
    pipeline = Pipeline([Tenant("utility", {}, registry=registry)])
    outcome = pipeline.process(RadioFrame(raw, -70.0, 1000.0, LinkMode.C1, FrameFormat.NONE))
    assert outcome.reading is not None
    assert outcome.reading.fields["meter"] == "acmewater"
    assert outcome.reading.fields["consumed_m3"] == 3.5


def test_without_the_table_the_builtin_drivers_decode(tmp_path: Path) -> None:
    path = minimal(tmp_path)
    assert load_drivers(load_config(path), str(path)).named("acmewater") is None


def test_a_fault_in_a_driver_file_names_the_file_and_its_key(tmp_path: Path) -> None:
    path = with_drivers(tmp_path, {"acme.toml": DRIVER.replace('"volume" }', '"volum" }')})
    message = error_of(path)
    assert "drivers.dir: " in message
    assert f"{tmp_path}/drivers.d/acme.toml: field[0].match[0].vif: must be one of" in message


def test_a_driver_claiming_a_builtin_meter_is_refused(tmp_path: Path) -> None:
    taken = DRIVER.replace('["ACM", 0x01, 0x07]', '["KAM", 0x1B, 0x16]')
    message = error_of(with_drivers(tmp_path, {"kam.toml": taken}))
    assert "drivers.dir" in message and "claimed by kamwater and acmewater" in message


def test_a_driver_named_like_a_builtin_one_is_refused(tmp_path: Path) -> None:
    message = error_of(with_drivers(tmp_path, {"a.toml": DRIVER.replace("acmewater", "kamwater")}))
    assert "'kamwater'" in message


def test_a_driver_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    big = DRIVER + "#" * MAX_DRIVER_FILE_BYTES
    assert f"at most {MAX_DRIVER_FILE_BYTES}" in error_of(with_drivers(tmp_path, {"a.toml": big}))


def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    path = minimal(tmp_path, f'[drivers]\ndir = "{tmp_path}/nowhere"\n')
    assert "cannot be listed" in error_of(path)


def test_files_not_ending_in_toml_are_ignored(tmp_path: Path) -> None:
    path = with_drivers(tmp_path, {"README": "not a driver", "acme.toml": DRIVER})
    assert load_drivers(load_config(path), str(path)).named("acmewater") is not None
