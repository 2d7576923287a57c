"""``concentratord analyze``: one telegram laid open byte by byte (protocols/analysis.py),
as text for a technician or ``--json`` for tools."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from concentratord.decode_cmd import load_keys
from concentratord.driver_files import DriverFileError, driver_registry
from protocols.analysis import analyze
from protocols.errors import DecodeError
from protocols.textformats import KeyFileError, telegram_from_hex

# What a technician does about each kind of failure.
HINTS = {
    "no key": "give the meter's key: --key ID=HEX or --keys FILE",
    "wrong key": "the key given is not this meter's",
    "unknown compact format signature": "feed a full frame of this meter first (same input)",
    "truncated": "the frame is cut short: check the radio dump",
}
MAX_INPUT_BYTES = 4096  # one telegram as hex is at most 512 characters; more is not one


def render(report: dict[str, Any], out: TextIO) -> None:
    """The report as aligned text: offset, bytes, meaning."""
    out.write(f"frame   {report['frame']}  (link-layer CRCs: {report['link_layer_crcs']})\n")
    for layer in report.get("layers", []):
        for field in layer["fields"]:
            line = f"{layer['layer']:<8}{field['offset']:>4}  {field['bytes']:<12} {field['name']}"
            out.write(f"{line}: {field['meaning']}\n")
    for record in report.get("records", []):
        value = record["value"]
        shown = f"{value} {record['unit']}".strip() if value is not None else "no value"
        out.write(
            f"record  {record['offset']:>4}  {record['header']:<12} {record['dif']}; "
            f"{record['meaning']}: {shown}\n"
        )
    for warning in report.get("warnings", []):
        out.write(f"warning {warning}\n")
    drivers = report.get("drivers")
    if drivers is not None:
        out.write(f"driver  {drivers['claimed_by']} claims {' '.join(drivers['triple'])}\n")
        if drivers["other_drivers_of_manufacturer"]:
            names = ", ".join(drivers["other_drivers_of_manufacturer"])
            out.write(f"driver  other drivers of this manufacturer: {names}\n")
        if "fields" in drivers:
            out.write(f"decoded {json.dumps(drivers['fields'])}\n")
        out.write(f"generic {json.dumps(drivers['generic'])}\n")
    error = report.get("error") or (drivers or {}).get("error")
    if error is not None:
        where = f" at byte {error['offset']}" if error["offset"] is not None else ""
        out.write(f"failed  {error['kind']}: {error['reason']}{where}\n")
        if error["kind"] in HINTS:
            out.write(f"hint    {HINTS[error['kind']]}\n")


def run_analyze(
    telegram_hex: str | None,
    key_args: list[str],
    keys_file: str | None,
    drivers_dir: str | None,
    as_json: bool,
    stdout: TextIO | None = None,
) -> int:
    """Analyze one telegram (the argument, else stdin); 1 when it does not decode, 2 when
    the input, the keys or the drivers are unusable."""
    out = stdout or sys.stdout
    text = telegram_hex if telegram_hex is not None else sys.stdin.read(MAX_INPUT_BYTES + 1)
    if len(text) > MAX_INPUT_BYTES:
        print(f"concentratord analyze: input over {MAX_INPUT_BYTES} characters", file=sys.stderr)
        return 2
    try:
        keys = load_keys(key_args, keys_file)
        registry = driver_registry(drivers_dir)
        raw = telegram_from_hex(text.strip())
    except (KeyFileError, DriverFileError, DecodeError) as err:
        print(f"concentratord analyze: {err}", file=sys.stderr)
        return 2
    if not raw:
        print("concentratord analyze: no telegram given", file=sys.stderr)
        return 2
    report = analyze(raw, keys, registry)
    if as_json:
        out.write(json.dumps(report) + "\n")
    else:
        render(report, out)
    return 0 if report["outcome"] == "ok" else 1
