"""``concentratord decode`` as scripts use it: the console script, real pipes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from protocols.records import Function
from protocols.records.build import build_header, encode_records
from protocols.telegram import MeterAddress
from protocols.wmbus.build import EllSpec, TelegramSpec, Tpl, build_telegram

BIN = Path(sys.executable).parent
METER = "76348799"
KEY = "000102030405060708090A0B0C0D0E0F"
MULTICAL21 = MeterAddress("KAM", METER, 0x1B, 0x16)


def _multical21_records(total_litres: int) -> bytes:
    """Info codes, total and month volume, minimum flow and external temperature: the
    kamwater layout whose compact form the driver declares."""
    return encode_records(
        [
            (build_header(b"\xff\x20", 0x2), 0x0000),
            (build_header(b"\x13", 0x4), total_litres),
            (build_header(b"\x13", 0x4, storage=1), 6300),
            (build_header(b"\x5b", 0x1, function=Function.MINIMUM, storage=1), 12),
            (build_header(b"\x67", 0x1, function=Function.MINIMUM, storage=1), 9),
        ]
    )


def _encrypted(tpl: Tpl, total_litres: int, access_number: int) -> str:
    """A Multical 21 telegram as hex: ELL 0x8D, AES-128-CTR with KEY."""
    spec = TelegramSpec(
        MULTICAL21,
        _multical21_records(total_litres),
        tpl=tpl,
        ell=EllSpec(access_number=access_number),
    )
    return build_telegram(spec, bytes.fromhex(KEY)).hex().upper()


ENCRYPTED_FULL = _encrypted(Tpl.NONE, 6408, 0x91)
ENCRYPTED_COMPACT = _encrypted(Tpl.COMPACT, 6409, 0x98)


def decode(stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "concentratord"), "decode", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def objects(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_one_json_object_per_non_blank_line_in_order() -> None:
    result = decode(f"{ENCRYPTED_FULL}\n\n   \n{ENCRYPTED_COMPACT}\n", "--key", f"{METER}={KEY}")
    assert result.returncode == 0
    out = objects(result.stdout)
    assert [o["total_m3"] for o in out] == [6.408, 6.409]


def test_compact_layout_learnt_from_an_earlier_line_carries_over() -> None:
    # The compact frame alone is resolved by the driver's declared layouts; here the full
    # frame precedes it, and the result must be the same.
    alone = objects(decode(ENCRYPTED_COMPACT + "\n", "--key", f"{METER}={KEY}").stdout)
    both = objects(
        decode(f"{ENCRYPTED_FULL}\n{ENCRYPTED_COMPACT}\n", "--key", f"{METER}={KEY}").stdout
    )
    assert alone[0] == both[1]


def test_decoration_characters_are_ignored() -> None:
    spaced = " ".join(ENCRYPTED_FULL[i : i + 2] for i in range(0, len(ENCRYPTED_FULL), 2))
    decorated = "0x" + spaced.replace(" ", "_", 3) + " | # \n"
    out = objects(decode(decorated, "--key", f"{METER}={KEY}").stdout)
    assert out[0]["total_m3"] == 6.408


def test_undecodable_line_gives_an_error_object_and_the_run_goes_on() -> None:
    result = decode(f"zz\n{ENCRYPTED_FULL}\n", "--key", f"{METER}={KEY}")
    assert result.returncode == 0
    bad, good = objects(result.stdout)
    assert "error" in bad
    assert good["id"] == METER


def test_missing_key_error_names_the_meter_and_manufacturer() -> None:
    (out,) = objects(decode(ENCRYPTED_FULL + "\n").stdout)
    assert out["error_type"] == "NoKeyError"
    assert (out["id"], out["manufacturer"]) == (METER, "KAM")


def test_wrong_key_is_reported_per_meter() -> None:
    (out,) = objects(decode(ENCRYPTED_FULL + "\n", "--key", f"{METER}={'00' * 16}").stdout)
    assert out["error_type"] == "WrongKeyError"
    assert out["id"] == METER


def test_keys_file_accepts_space_comma_and_comments(tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# water meters\n{METER},{KEY}  # kitchen\n\n12345678 {'11' * 16}\n")
    (out,) = objects(decode(ENCRYPTED_FULL + "\n", "--keys", str(keys)).stdout)
    assert out["total_m3"] == 6.408


def test_bad_keys_file_exits_non_zero_naming_file_and_line(tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text(f"{METER} {KEY}\n12345678 ABCD\n")
    result = decode(ENCRYPTED_FULL + "\n", "--keys", str(keys))
    assert result.returncode != 0
    assert result.stdout == ""
    assert f"{keys}:2" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_keys_file_exits_non_zero_naming_it(tmp_path: Path) -> None:
    result = decode("", "--keys", str(tmp_path / "nope.txt"))
    assert result.returncode != 0
    assert "nope.txt" in result.stderr


def test_malformed_key_argument_exits_non_zero() -> None:
    result = decode("", "--key", f"{METER}:{KEY}")
    assert result.returncode != 0
    assert "--key" in result.stderr


def test_records_option_adds_every_raw_record() -> None:
    (out,) = objects(decode(ENCRYPTED_FULL + "\n", "--key", f"{METER}={KEY}", "--records").stdout)
    volumes = [r for r in out["records"] if r["quantity"] == "volume"]
    assert {r["storage"] for r in volumes} == {0, 1}
    assert all({"function", "tariff", "subunit", "unit", "value"} <= r.keys() for r in volumes)


def test_each_line_is_flushed_before_the_next_is_read() -> None:
    proc = subprocess.Popen(
        [str(BIN / "concentratord"), "decode", "--key", f"{METER}={KEY}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(ENCRYPTED_FULL + "\n")
        proc.stdin.flush()
        # stdin stays open: the answer must come now, not at end of input.
        assert json.loads(proc.stdout.readline())["total_m3"] == 6.408
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    assert proc.returncode == 0


def test_invalid_utf8_input_is_an_error_line_not_a_crash() -> None:
    result = subprocess.run(
        [str(BIN / "concentratord"), "decode"],
        input=b"\xff\xfe\n" + ENCRYPTED_FULL.encode() + b"\n",
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert len(result.stdout.splitlines()) == 2


@pytest.mark.parametrize("line", ["", "44", "0" * 600])
def test_short_or_absurd_lines_give_error_objects(line: str) -> None:
    out = objects(decode(f"{line}\n{line}x\n").stdout)
    assert all("error" in o for o in out)


def test_demo_telegrams_decode_with_the_demo_keys(tmp_path: Path) -> None:
    keys = tmp_path / "demo.keys"
    demo = subprocess.run(
        [str(BIN / "concentratord"), "demo", "--keys-out", str(keys)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    out = objects(decode(demo.stdout, "--keys", str(keys)).stdout)
    errors = [o for o in out if "error" in o]
    assert len(out) == len(demo.stdout.splitlines())
    assert [e["error_type"] for e in errors] == ["NoKeyError"]  # the meter without a key
    assert {o["meter"] for o in out if "meter" in o} >= {"kamwater", "kamheat", "kampress"}
