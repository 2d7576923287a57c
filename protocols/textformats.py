"""Text forms that tools exchange: hex telegram lines and keys files (docs/cli.md, "Text
inputs").

Pure parsing of strings; reading the file is the caller's business.
"""

from __future__ import annotations

import re

from protocols.errors import FormatError

_IGNORED = re.compile(r"0[xX]|[\s_|#]")
KEY_BYTES = 16
DES_KEY_BYTES = 8  # meters of the deprecated TPL security mode 2


def telegram_from_hex(line: str) -> bytes:
    """The bytes of one hex telegram line as radio dumps print them.

    ``0x`` prefixes, whitespace, ``_``, ``|`` and ``#`` are ignored.
    """
    try:
        # The common line is bare hex (whitespace between bytes at most), which fromhex
        # takes as it is; anything else goes the long way, with the same result.
        return bytes.fromhex(line)
    except ValueError:
        pass
    text = _IGNORED.sub("", line)
    if len(text) % 2:
        raise FormatError(f"odd number of hex digits ({len(text)})")
    try:
        return bytes.fromhex(text)
    except ValueError:
        bad = next((c for c in text if c not in "0123456789abcdefABCDEF"), "?")
        raise FormatError(f"not a hex digit: {bad!r}") from None


class KeyFileError(ValueError):
    """A keys file or key argument that cannot be used; the message names where."""


def parse_key(meter_id: str, hex_key: str, where: str) -> tuple[str, bytes]:
    """One key: the meter (``ID``, 8 digits, for that id of every manufacturer, or
    ``MAN:ID`` for one manufacturer's meter) and its key: 16 bytes (AES-128), or 8 (DES,
    for meters of the deprecated TPL security mode 2)."""
    meter_id = meter_id.strip()
    manufacturer, _, number = meter_id.rpartition(":")
    if manufacturer and not (len(manufacturer) == 3 and manufacturer.isalpha()):
        raise KeyFileError(f"{where}: manufacturer must be three letters, not {manufacturer!r}")
    if len(number) != 8 or not all(c in "0123456789ABCDEFabcdef" for c in number):
        raise KeyFileError(f"{where}: meter id must be 8 digits, not {meter_id!r}")
    try:
        key = bytes.fromhex(hex_key.strip())
    except ValueError:
        raise KeyFileError(f"{where}: key of meter {meter_id} is not hex") from None
    if len(key) not in (KEY_BYTES, DES_KEY_BYTES):
        raise KeyFileError(
            f"{where}: key of meter {meter_id} has {len(key)} bytes, AES-128 needs {KEY_BYTES}"
            f" (a DES key of a security mode 2 meter {DES_KEY_BYTES})"
        )
    return meter_id.upper(), key


# The first column's name in the header row of a CSV export of keys.
CSV_ID_HEADERS = frozenset({"id", "meter", "meter_id", "meterid", "serial", "serial_number"})


def parse_keys(text: str, source: str) -> dict[str, bytes]:
    """The keys of a keys file: ``ID HEX``, ``MAN:ID HEX`` or with a comma, per line (CSV,
    with or without a header row); ``#`` starts a comment. Errors name ``source:line``."""
    keys: dict[str, bytes] = {}
    first = True
    for number, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0].strip()
        if not content:
            continue
        parts = [p for p in re.split(r"[\s,]+", content) if p]
        where = f"{source}:{number}"
        if first and parts and parts[0].lower() in CSV_ID_HEADERS:
            first = False  # a spreadsheet's header row: "meter,key"
            continue
        first = False
        if len(parts) != 2:
            raise KeyFileError(f"{where}: expected 'ID HEX', 'MAN:ID HEX' or 'ID,HEX'")
        meter_id, key = parse_key(parts[0], parts[1], where)
        if meter_id in keys and keys[meter_id] != key:
            raise KeyFileError(f"{where}: meter {meter_id} has two different keys")
        keys[meter_id] = key
    return keys
