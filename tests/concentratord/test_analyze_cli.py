"""``concentratord analyze``: the text a technician reads, the JSON a tool reads, and the
exit codes (docs/cli.md)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

from concentratord.analyze_cmd import MAX_INPUT_BYTES, run_analyze
from protocols.records import encode_scaled
from protocols.telegram import MeterAddress
from protocols.wmbus.build import TelegramSpec, build_telegram

KEY = bytes(range(16))
METER = MeterAddress("ACM", "12345678", 0x01, 0x07)
PLAIN = build_telegram(TelegramSpec(METER, encode_scaled(bytes.fromhex("0413"), 1.5))).hex()
SECRET = build_telegram(
    TelegramSpec(METER, encode_scaled(bytes.fromhex("0413"), 1.5), security_mode=5), KEY
).hex()


def run(*args: str, telegram: str | None = PLAIN, as_json: bool = False) -> tuple[int, str]:
    out = io.StringIO()
    keys = list(args)
    return run_analyze(telegram, keys, None, None, as_json, out), out.getvalue()


def test_a_decodable_telegram_is_shown_layer_by_layer_and_exits_0() -> None:
    code, text = run()
    assert code == 0
    assert "link       2  " in text and "M: manufacturer ACM" in text
    assert "record    15  0413" in text and "volume, instantaneous, storage 0: 1.5 m3" in text
    assert "driver  generic claims ACM 0x01 0x07" in text


def test_without_its_key_the_reason_and_a_hint_are_given_and_it_exits_1() -> None:
    code, text = run(telegram=SECRET)
    assert code == 1
    assert "failed  no key: no key for meter 12345678 (mode 5)" in text
    assert "hint    give the meter's key" in text


def test_with_its_key_it_decodes() -> None:
    code, text = run(f"12345678={KEY.hex()}", telegram=SECRET)
    assert code == 0 and '"total_m3": 1.5' in text


def test_json_output_is_one_object() -> None:
    code, text = run(as_json=True)
    report = json.loads(text)
    assert code == 0 and report["outcome"] == "ok" and report["records"][0]["value"] == 1.5


def test_input_that_is_not_hex_exits_2() -> None:
    assert run(telegram="not hex")[0] == 2


def test_input_over_the_limit_exits_2() -> None:
    assert run(telegram="00" * MAX_INPUT_BYTES)[0] == 2


def test_the_telegram_may_come_on_stdin() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "concentratord.cli", "analyze", "--json"],
        input=PLAIN + "\n",
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["drivers"]["claimed_by"] == "generic"
