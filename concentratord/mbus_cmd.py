"""``concentratord mbus scan|read``: the wired M-Bus master from the command line.

``scan`` prints one JSON object per slave found (``primary`` or ``secondary`` address,
``id``, ``manufacturer``, ``version``, ``medium``) and a summary line on stderr with the
number of probes; ``read`` prints the slave's decoded answer as ``concentratord decode``
does (a multi-telegram answer merged into one object).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import TextIO

from bus.answer import merged_telegram
from bus.master import MasterError, MbusMaster, SlaveInfo
from bus.transport import DEFAULT_MARGIN_S, BusError, BusTransport
from concentratord.config.mbus import secondary_of
from concentratord.mbus_control import summary_line
from protocols.errors import DecodeError
from protocols.mbus.frames import ADDRESS_MAX_PRIMARY
from protocols.mbus.secondary import ANY
from protocols.readout import error_fields, telegram_fields
from protocols.wmbus.address import manufacturer_field
from protocols.wmbus.decoder import TelegramDecoder


def _print(out: TextIO, obj: object) -> None:
    out.write(json.dumps(obj) + "\n")
    out.flush()


def parse_addresses(text: str) -> range:
    """``FIRST-LAST`` (or one address) -> the range of primary addresses (ValueError)."""
    first, sep, last = text.partition("-")
    try:
        low, high = int(first), int(last if sep else first)
    except ValueError:
        raise ValueError(f"--addresses: expected FIRST-LAST, got {text!r}") from None
    if not 0 <= low <= high <= ADDRESS_MAX_PRIMARY:
        raise ValueError(f"--addresses: 0 <= FIRST <= LAST <= 250, got {text!r}")
    return range(low, high + 1)


def parse_manufacturers(text: str | None) -> list[int] | None:
    """``ABB,KAM`` -> their M fields (None: every code); ValueError on a bad code."""
    if text is None:
        return None
    codes = [c.strip().upper() for c in text.split(",") if c.strip()]
    if not codes or any(len(c) != 3 or not c.isalpha() or not c.isascii() for c in codes):
        raise ValueError(f"--manufacturers: expected three-letter codes, got {text!r}")
    return [manufacturer_field(c) for c in codes]


def run_scan(
    port: str,
    baud: int,
    secondary: bool,
    *,
    margin_s: float = DEFAULT_MARGIN_S,
    addresses: Iterable[int] = range(0, ADDRESS_MAX_PRIMARY + 1),
    manufacturers: list[int] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Scan the bus on ``port``; exit 1 when the port cannot be used."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        with BusTransport(port, baud, margin_s=margin_s) as transport:
            master = MbusMaster(transport)
            if secondary:

                def found(info: SlaveInfo) -> None:
                    _print(out, info.as_json())

                result = master.scan_secondary(ANY, manufacturers, on_found=found)
                summary: dict[str, object] = {
                    "found": len(result.found),
                    "probes": result.probes,
                    "collisions": result.collisions,
                    "unresolved": len(result.unresolved),
                }
            else:
                count = 0
                for address in addresses:
                    for info in master.scan_primary([address]):
                        _print(out, info.as_json())
                        count += 1
                summary = {"found": count, "probes": master.probes}
    except BusError as error:
        print(f"concentratord mbus scan: {error}", file=err)
        return 1
    summary["kind"] = "secondary" if secondary else "primary"
    print(summary_line(summary), file=err)
    return 0


def run_read(
    port: str,
    baud: int,
    address: int | str,
    with_records: bool,
    *,
    margin_s: float = DEFAULT_MARGIN_S,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Read the slave at primary ``address`` (or selected by a secondary one: 16 hex
    digits); exit 1 when it does not answer."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    decoder = TelegramDecoder()
    try:
        with BusTransport(port, baud, margin_s=margin_s) as transport:
            target = address if isinstance(address, int) else secondary_of(address)
            frames = MbusMaster(transport).read_at(target)
    except (BusError, MasterError) as error:
        print(f"concentratord mbus read: {error}", file=err)
        return 1
    try:
        telegram = merged_telegram(frames, decoder)
        fields = telegram_fields(telegram, with_records=with_records, registry=decoder.registry)
    except DecodeError as error:
        fields = error_fields(error)
    _print(out, fields)
    return 0
