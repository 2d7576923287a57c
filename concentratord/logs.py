"""Where the daemon's log goes and how it looks (docs/operations.md, "Logs").

Under systemd the journal adds the time, the unit and the process, and reads a record's
priority from a ``<N>`` prefix (sd-daemon(3)); the daemon then writes ``<N>name: message``
lines. Anywhere else (a terminal, a test) a line carries its own time and level name.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TextIO

LEVELS = ("debug", "info", "warning", "error")
# syslog priorities of Python's levels (sd-daemon's <N> prefixes).
_PRIORITY = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JournalFormatter(logging.Formatter):
    """``<priority>name: message``; a traceback's lines carry the same priority."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{_PRIORITY.get(record.levelno, 6)}>"
        text = f"{record.name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return "\n".join(prefix + line for line in text.splitlines())


def to_journal(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """Whether ``stream`` is the journal's: systemd sets ``JOURNAL_STREAM`` to the device and
    inode of the stream it connected (systemd.exec(5)); compared, so that a shell started
    from a unit (its stderr redirected elsewhere) does not get journal lines."""
    value = environ.get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    try:
        stat = os.fstat(stream.fileno())
    except (OSError, ValueError):
        return False
    return (
        device.isdigit()
        and inode.isdigit()
        and (stat.st_dev, stat.st_ino)
        == (
            int(device),
            int(inode),
        )
    )


def setup_logging(
    level: str, *, stream: TextIO | None = None, environ: Mapping[str, str] = os.environ
) -> None:
    """The root logger at ``level`` (one of :data:`LEVELS`), in the journal's form when
    ``stream`` (default stderr) is the journal."""
    out = stream or sys.stderr
    handler = logging.StreamHandler(out)
    if to_journal(out, environ):
        handler.setFormatter(JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter(PLAIN_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # APScheduler logs every job run at INFO: noise at a 5-minute cadence.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
