"""``concentratord listen``: the field technician's first tool on a new box.

Opens a port, configures the module and prints every telegram heard, decoded, one JSON
object per line (or a table row with ``--table``), until SIGINT or SIGTERM; then it prints
what it has already received and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from protocols.errors import DecodeError
from protocols.readout import error_fields, telegram_fields
from protocols.wmbus.decoder import TelegramDecoder
from radio.driver import ModuleDriver, ModuleError
from radio.frame import LinkMode, RadioFrame

log = logging.getLogger("concentratord.listen")

TABLE_COLUMNS = ("time", "id", "manuf", "meter", "rssi", "mode", "status", "values")


def iso_utc(timestamp: float) -> str:
    """Seconds since the epoch as ISO 8601 UTC with a Z, to the millisecond."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def frame_fields(decoder: TelegramDecoder, frame: RadioFrame) -> dict[str, Any]:
    """The decode fields of one radio frame plus how it was heard."""
    try:
        fields = telegram_fields(decoder.decode(frame.raw))
    except DecodeError as err:
        fields = error_fields(err)
        fields["hex"] = frame.raw.hex().upper()
    fields["rssi_dbm"] = frame.rssi_dbm
    fields["link_mode"] = frame.link_mode.value
    fields["timestamp"] = iso_utc(frame.timestamp)
    return fields


def table_row(fields: dict[str, Any]) -> str:
    """One human-readable line for ``--table``."""
    values = " ".join(
        f"{k}={v}"
        for k, v in fields.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k != "rssi_dbm"
    )
    rssi = fields.get("rssi_dbm")
    cells = (
        fields["timestamp"][11:23],
        fields.get("id", "?"),
        fields.get("manufacturer", "?"),
        fields.get("meter", fields.get("error_type", "?")),
        f"{rssi:.1f}" if isinstance(rssi, int | float) else "-",
        fields["link_mode"],
        fields.get("status", fields.get("error", "")),
        values,
    )
    return "  ".join(str(c) for c in cells)


async def listen(driver: ModuleDriver, decoder: TelegramDecoder, out: TextIO, table: bool) -> int:
    """Print frames until a signal; then print what is queued and return 0."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def emit(frame: RadioFrame) -> None:
        fields = frame_fields(decoder, frame)
        out.write((table_row(fields) if table else json.dumps(fields)) + "\n")
        out.flush()

    try:
        await driver.start()
    except ModuleError as err:
        print(f"concentratord listen: {err}", file=sys.stderr)
        return 1
    info = driver.module_info()
    log.info(
        "listening on %s: %s firmware %s id %s",
        driver.port_path,
        info.module,
        info.firmware,
        info.module_id,
    )
    if table:
        out.write("  ".join(TABLE_COLUMNS) + "\n")
    stopped = asyncio.ensure_future(stop.wait())
    while not stop.is_set():
        nxt = asyncio.ensure_future(driver.next_frame())
        done, _ = await asyncio.wait({nxt, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if nxt in done:
            emit(nxt.result())
        else:
            nxt.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await nxt
    await driver.stop()
    while driver.pending():  # everything received before the signal is printed
        emit(await driver.next_frame())
    return 0


def run_listen(port: str, module: str, mode: str, keys: dict[str, bytes], table: bool) -> int:
    """Entry point for the CLI: build the driver and run until a signal."""
    from radio.modules.registry import driver_class

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    link_mode = LinkMode(mode)

    async def main() -> int:
        if module == "auto":
            from radio.probe import probe

            cls = await probe(port, link_mode)
            if cls is None:
                print(f"concentratord listen: no known module answers on {port}", file=sys.stderr)
                return 1
        else:
            cls = driver_class(module)
        driver = cls(port, link_mode)
        return await listen(driver, TelegramDecoder(keys), sys.stdout, table)

    try:
        return asyncio.run(main())
    except BrokenPipeError:
        return 0
