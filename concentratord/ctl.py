"""``concentratorctl``: talk to the running daemon over its local Unix socket.

The control protocol is one JSON object per line each way: ``{"command": NAME, "args":
{...}}`` in, ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": REASON}`` out. The
daemon checks the caller's role for each command (docs/design.md, "No one sees what is not
theirs"). Output is a human table by default and the result as JSON with ``--json``
(docs/cli.md, "concentratorctl").

``tap`` is a stream: the first reply line is ``{"ok": true, "stream": true}``, then one line
per telegram the daemon hears (``{"event": ...}``), ``{"dropped": N}`` when this client fell
behind, and ``{"end": REASON}`` when the daemon ends it. It runs until Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from concentratord.tap_cmd import event_line, parse_meter

DEFAULT_SOCKET = "/run/concentratord/control.sock"
TIMEOUT_S = 10.0


class ControlError(Exception):
    """The daemon could not be reached or refused the command."""


def request(path: str, command: str, args: dict[str, Any]) -> Any:
    """Send one command to the daemon at ``path`` and return its result."""
    message = json.dumps({"command": command, "args": args}).encode() + b"\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(TIMEOUT_S)
            sock.connect(path)
            sock.sendall(message)
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
    except FileNotFoundError:
        raise ControlError(f"cannot reach concentratord at {path}: is it running?") from None
    except OSError as err:
        raise ControlError(f"cannot reach concentratord at {path}: {err.strerror or err}") from None
    try:
        answer = json.loads(reply)
    except ValueError:
        raise ControlError(f"concentratord at {path} sent an unreadable reply") from None
    if not isinstance(answer, dict) or not answer.get("ok"):
        reason = answer.get("error", "no reason given") if isinstance(answer, dict) else "?"
        raise ControlError(f"concentratord refused {command}: {reason}")
    return answer.get("result")


def stream(path: str, command: str, args: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Open a streaming command on the daemon at ``path``; yield each line it sends.

    A refusal raises :class:`ControlError` before anything is yielded; the iterator ends
    when the daemon closes the connection.
    """
    message = json.dumps({"command": command, "args": args}).encode() + b"\n"
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(TIMEOUT_S)
        sock.connect(path)
    except FileNotFoundError:
        sock.close()
        raise ControlError(f"cannot reach concentratord at {path}: is it running?") from None
    except OSError as err:
        sock.close()
        raise ControlError(f"cannot reach concentratord at {path}: {err.strerror or err}") from None
    with sock, sock.makefile("rb") as lines:
        try:
            sock.sendall(message)
            head = lines.readline()
        except OSError as err:
            raise ControlError(f"concentratord at {path}: {err.strerror or err}") from None
        answer = _decoded(head, path)
        if not answer.get("ok"):
            raise ControlError(f"concentratord refused {command}: {answer.get('error', '?')}")
        if not answer.get("stream"):
            raise ControlError(f"concentratord at {path} does not stream {command}")
        sock.settimeout(None)  # a quiet field may say nothing for minutes
        try:
            for line in lines:
                yield _decoded(line, path)
        except OSError as err:
            raise ControlError(f"concentratord at {path}: {err.strerror or err}") from None


def _decoded(line: bytes, path: str) -> dict[str, Any]:
    try:
        answer = json.loads(line)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise ControlError(f"concentratord at {path} sent an unreadable reply")
    return answer


def tap(path: str, args: dict[str, Any], as_json: bool) -> int:
    """``concentratorctl tap``: print each telegram as the daemon hears it, until Ctrl-C."""
    try:
        for line in stream(path, "tap", args):
            if "event" in line:
                event = line["event"]
                print(json.dumps(event) if as_json else event_line(event), flush=True)
            elif "dropped" in line:
                # On stderr: stdout stays one telegram per line for whoever reads it.
                print(
                    f"concentratorctl: {line['dropped']} telegrams dropped so far:"
                    " this terminal did not keep up",
                    file=sys.stderr,
                    flush=True,
                )
            elif "end" in line:
                raise ControlError(f"concentratord ended the tap: {line['end']}")
        raise ControlError("concentratord closed the connection")
    except KeyboardInterrupt:
        return 0  # Ctrl-C is how a tap ends
    except BrokenPipeError:
        # The reader went away (``tap | head``): done. Point stdout at /dev/null so that
        # Python's final flush at exit does not complain about the closed pipe.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _meter(text: str) -> str:
    try:
        return parse_meter(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _percent(rate: Any) -> str:
    return "-" if rate is None else f"{round(rate * 100)} %"


def meter_sentence(row: dict[str, Any]) -> str:
    """One meter as the installer reads it: "heard 12 times, last at ..., RSSI -71 dBm,
    reception 97 % (good)"."""
    rssi = row["rssi_dbm"]["last"]
    rate = row["reception_rate"]
    reception = "reception not known yet" if rate is None else f"reception {_percent(rate)}"
    return (
        f"{row['manufacturer']}:{row['id']} heard {row['telegrams']} times,"
        f" last at {row['last_heard']}, RSSI {'-' if rssi is None else rssi} dBm,"
        f" {reception} ({row['quality']}), decode {row['decode']}"
    )


def render_visible(result: Any) -> str:
    """``visible``: one meter's sentence and figures, or the table of meters heard."""
    if isinstance(result, dict) and "meters" not in result:
        return meter_sentence(result) + "\n" + render_table(result)
    rows = [
        {
            "id": r["id"],
            "man": r["manufacturer"],
            "tenant": r["tenant"] or "-",
            "media": r["media"],
            "telegrams": r["telegrams"],
            "rssi": r["rssi_dbm"]["last"],
            "mean": r["rssi_dbm"]["mean"],
            "interval_s": r["interval_s"],
            "reception": _percent(r["reception_rate"]),
            "quality": r["quality"],
            "decode": r["decode"],
            "last_heard": r["last_heard"],
        }
        for r in result["meters"]
    ]
    others = result.get("others") or 0
    tail = f"\n(and {others} meters of others)" if others else ""
    return (render_table(rows) if rows else "(no meter heard)") + tail


def render_table(result: Any) -> str:
    """A result as a human table: a list of rows, or key/value lines for an object."""
    if isinstance(result, dict):
        width = max((len(k) for k in result), default=0)
        return "\n".join(f"{k.ljust(width)}  {_cell(v)}" for k, v in result.items())
    if isinstance(result, list) and result and all(isinstance(r, dict) for r in result):
        columns = list(dict.fromkeys(k for row in result for k in row))
        rows = [[_cell(row.get(c, "")) for c in columns] for row in result]
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
        return "\n".join(line.rstrip() for line in lines)
    if isinstance(result, list):
        return "\n".join(_cell(r) for r in result) if result else "(none)"
    return _cell(result)


def _cell(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value)
    return "" if value is None else str(value)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="concentratorctl", description=__doc__.splitlines()[0])
    parser.add_argument("--socket", default=DEFAULT_SOCKET, help="the daemon's control socket")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("status", help="gateway status and counters")
    sub.add_parser("meters", help="meters heard, with their last reading")
    visible = sub.add_parser("visible", help="visibility check: meters heard and how well")
    visible.add_argument("serial", nargs="?", help="one meter id")
    sub.add_parser("alarms", help="active and recent alarms")
    sub.add_parser("queue", help="outbox depth per class")
    keys = sub.add_parser("keys", help="list, add or remove meter keys")
    keys.add_argument("action", choices=["list", "add", "remove"])
    keys.add_argument("meter_id", nargs="?")
    keys.add_argument("key", nargs="?")
    config = sub.add_parser("config", help="show or check the running configuration")
    config.add_argument("action", choices=["show", "check"])
    tap_cmd = sub.add_parser("tap", help="live: each telegram the daemon hears (until Ctrl-C)")
    tap_cmd.add_argument("--meter", type=_meter, help="only this meter: ID or MAN:ID")
    # Also after the command (``tap --json``); SUPPRESS keeps a ``--json`` given before it.
    tap_cmd.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="JSON")
    return parser


def _args_of(ns: argparse.Namespace) -> dict[str, Any]:
    skip = {"socket", "json", "command"}
    return {k: v for k, v in vars(ns).items() if k not in skip and v is not None}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``concentratorctl`` console script."""
    ns = _parser().parse_args(argv)
    if ns.command == "tap":
        try:
            return tap(ns.socket, _args_of(ns), ns.json)
        except ControlError as err:
            print(f"concentratorctl: {err}", file=sys.stderr)
            return 1
    try:
        result = request(ns.socket, ns.command, _args_of(ns))
    except ControlError as err:
        print(f"concentratorctl: {err}", file=sys.stderr)
        return 1
    if ns.json:
        print(json.dumps(result, indent=2))
    else:
        print(render_visible(result) if ns.command == "visible" else render_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
