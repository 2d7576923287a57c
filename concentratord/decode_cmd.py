"""``concentratord decode``: hex telegrams on stdin -> one JSON object per line on stdout."""

from __future__ import annotations

import json
import sys
from typing import Any, BinaryIO, TextIO

from concentratord.driver_files import DriverFileError, driver_registry
from protocols.errors import DecodeError
from protocols.readout import error_fields, telegram_fields
from protocols.textformats import KeyFileError, parse_key, parse_keys, telegram_from_hex
from protocols.wmbus.decoder import TelegramDecoder


def load_keys(key_args: list[str], keys_file: str | None) -> dict[str, bytes]:
    """Keys from ``--keys FILE`` and ``--key ID=HEX`` (the latter win)."""
    keys: dict[str, bytes] = {}
    if keys_file is not None:
        try:
            with open(keys_file, encoding="utf-8") as f:
                text = f.read()
        except OSError as err:
            raise KeyFileError(f"{keys_file}: {err.strerror or err}") from None
        except UnicodeDecodeError:
            raise KeyFileError(f"{keys_file}: not a text file") from None
        keys.update(parse_keys(text, keys_file))
    for n, arg in enumerate(key_args, start=1):
        meter_id, sep, hex_key = arg.partition("=")
        if not sep:
            raise KeyFileError(f"--key #{n}: expected ID=HEX, got {arg!r}")
        mid, key = parse_key(meter_id, hex_key, f"--key #{n}")
        keys[mid] = key
    return keys


def decode_line(decoder: TelegramDecoder, line: str, with_records: bool) -> dict[str, Any]:
    """The JSON object for one input line."""
    try:
        raw = telegram_from_hex(line)
        telegram = decoder.decode(raw)
        return telegram_fields(telegram, with_records=with_records, registry=decoder.registry)
    except DecodeError as err:
        return error_fields(err)


def run_decode(
    key_args: list[str],
    keys_file: str | None,
    with_records: bool,
    stdin: BinaryIO | None = None,
    stdout: TextIO | None = None,
    drivers_dir: str | None = None,
) -> int:
    """Decode every non-blank line of stdin; exit 0 unless the keys or the drivers of
    ``drivers_dir`` are unusable."""
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout
    try:
        keys = load_keys(key_args, keys_file)
        registry = driver_registry(drivers_dir)
    except (KeyFileError, DriverFileError) as err:
        print(f"concentratord decode: {err}", file=sys.stderr)
        return 2
    decoder = TelegramDecoder(keys, registry=registry)
    try:
        for raw_line in stdin:
            # Undecodable bytes become U+FFFD and then a "not a hex digit" error for that
            # line: one bad line never stops the batch.
            line = raw_line.decode("utf-8", errors="replace")
            if not line.strip():
                continue
            stdout.write(json.dumps(decode_line(decoder, line, with_records)) + "\n")
            stdout.flush()
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): nothing more to deliver, not an error.
        sys.stderr.close()
    return 0
