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

from concentratord import __version__
from concentratord.mbus_control import summary_line
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
            with contextlib.suppress(BrokenPipeError):  # refused early: the reason follows
                sock.sendall(message)
                sock.shutdown(socket.SHUT_WR)  # one request per connection
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
    parser.add_argument("--version", action="version", version=f"concentratorctl {__version__}")
    parser.add_argument("--socket", default=DEFAULT_SOCKET, help="the daemon's control socket")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("status", help="gateway status and counters")
    sub.add_parser("meters", help="meters heard, with their last reading")
    visible = sub.add_parser("visible", help="visibility check: meters heard and how well")
    visible.add_argument("serial", nargs="?", help="one meter id")
    visible.add_argument("--group", help="only the meters of this group")
    sub.add_parser("alarms", help="active and recent alarms")
    sub.add_parser("queue", help="outbox depth per class")
    keys = sub.add_parser("keys", help="list, import or remove meter keys (never on argv)")
    keys.add_argument("action", choices=["list", "import", "remove"])
    keys.add_argument("source", nargs="*", help="import: FILE or - (stdin); remove: meter ids")
    keys.add_argument("--tenant", help="the tenant the keys are for (list: that tenant's)")
    keys.add_argument("--kem", metavar="FILE", help="import a Kamstrup KEM file")
    keys.add_argument("--password-file", help="the KEM file's password, in a file")
    sub.add_parser("reload", help="re-read the configuration file (as SIGHUP does)")
    config = sub.add_parser("config", help="show or check the running configuration")
    config.add_argument("action", choices=["show", "check"])
    audit = sub.add_parser("audit", help="the audit trail: who changed what, and refusals")
    audit.add_argument("--since", help="from this ISO 8601 time (UTC with Z)")
    audit.add_argument("--until", help="before this ISO 8601 time")
    audit.add_argument("--csv", action="store_true", help="print CSV")
    audit.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="JSON")
    access = sub.add_parser("access", help="show or change which role holds which permission")
    access.add_argument("action", choices=["show", "grant", "revoke"])
    access.add_argument("role", nargs="?", choices=["user", "superuser", "administrator"])
    access.add_argument("permission", nargs="*", help='e.g. "device management"')
    group = sub.add_parser("group", help="meter groups")
    group.add_argument("action", choices=["create", "delete", "add", "remove", "list", "show"])
    group.add_argument("name", nargs="?")
    group.add_argument("meters", nargs="*", help="meter ids (add, remove)")
    group.add_argument("--tenant", help="create: a group of this tenant's meters")
    tenant = sub.add_parser("tenant", help="tenants added at run time (share ID)")
    tenant.add_argument("action", choices=["add", "remove", "list"])
    tenant.add_argument("name", nargs="?")
    tenant.add_argument("--broker", help="mqtt[s]://HOST[:PORT] of its head-end")
    tenant.add_argument("--prefix", help="its topic prefix")
    tenant.add_argument("--username", help="its MQTT user name")
    tenant.add_argument("--password-file", help="its MQTT password, in a file")
    tenant.add_argument("--meter", action="append", dest="meters", help="ID or pattern")
    tenant.add_argument("--meters-from-keys", action="store_true", default=None)
    tenant.add_argument("--payload", choices=["decoded", "raw"])
    tap_cmd = sub.add_parser("tap", help="live: each telegram the daemon hears (until Ctrl-C)")
    tap_cmd.add_argument("--meter", type=_meter, help="only this meter: ID or MAN:ID")
    # Also after the command (``tap --json``); SUPPRESS keeps a ``--json`` given before it.
    tap_cmd.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="JSON")
    mbus = sub.add_parser("mbus", help="scan the daemon's wired bus, or read one slave")
    mbus_actions = mbus.add_subparsers(dest="action", required=True, metavar="ACTION")
    scan = mbus_actions.add_parser("scan", help="the slaves on the bus, one JSON line each")
    scan.add_argument("--port", help="the bus's port (needed when the daemon has several)")
    kind = scan.add_mutually_exclusive_group()
    kind.add_argument("--secondary", action="store_true", help="the wildcard tree scan")
    kind.add_argument("--primary", action="store_true", help="addresses 0-250 (the default)")
    scan.add_argument("--addresses", help="primary: FIRST-LAST (default 0-250)")
    scan.add_argument("--manufacturers", help="secondary: only these codes, e.g. ABB,KAM")
    read = mbus_actions.add_parser("read", help="read one slave now, printed as decode does")
    read.add_argument("--port", help="the bus's port (needed when the daemon has several)")
    read.add_argument("--address", required=True, help="0-250, or 16 hex digits (secondary)")
    read.add_argument("--records", action="store_true", help="every record as well")
    return parser


def mbus(path: str, args: dict[str, Any]) -> int:
    """``concentratorctl mbus scan|read``: slaves (or the reading) on stdout as JSON lines,
    the scan's summary on stderr; 1 when the daemon refuses or the bus fails."""
    args.pop("primary", None)
    action = args.get("action")
    finished = False  # a summary, a reading or an error came: the work is over
    try:
        for line in stream(path, "mbus", args):
            if "slave" in line:
                print(json.dumps(line["slave"]), flush=True)
            elif "reading" in line:
                print(json.dumps(line["reading"]), flush=True)
                finished = True
            elif "summary" in line:
                print(summary_line(line["summary"]), file=sys.stderr)
                finished = True
            elif "error" in line:
                print(f"concentratorctl: mbus {action}: {line['error']}", file=sys.stderr)
                return 1
            elif "end" in line and not finished:
                raise ControlError(f"concentratord ended the {action} early: {line['end']}")
    except KeyboardInterrupt:
        return 130  # stopped by the technician: the daemon stops the scan at its next probe
    except BrokenPipeError:
        with contextlib.suppress(OSError):  # ``mbus scan | head``: as for tap
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if not finished:
        raise ControlError("concentratord closed the connection")
    return 0


def _args_of(ns: argparse.Namespace) -> dict[str, Any]:
    """The request's arguments; files named are read here (a key never goes on argv)."""
    skip = {"socket", "json", "command", "csv", "password_file", "kem", "source"}
    args = {k: v for k, v in vars(ns).items() if k not in skip and v is not None}
    if ns.command == "keys":
        args.update(_keys_args(ns))
    elif ns.command == "access" and ns.permission:
        args["permission"] = " ".join(ns.permission)
    elif ns.command == "group" and not ns.meters:
        args.pop("meters", None)
    elif ns.command == "tenant" and ns.password_file:
        args["password"] = _read(ns.password_file).strip()
    return args


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as err:
        raise ControlError(f"cannot read {path}: {err}") from None


def _keys_args(ns: argparse.Namespace) -> dict[str, Any]:
    if ns.action == "remove":
        if not ns.source:
            raise ControlError("keys remove needs one or more meter ids")
        return {"meters": ns.source}
    if ns.action != "import":
        return {}
    if ns.kem:
        from protocols.kem import KemError, parse_kem

        if not ns.password_file:
            raise ControlError("--kem needs --password-file (a password never goes on argv)")
        try:
            with open(ns.kem, "rb") as handle:
                data = handle.read()
            keys = parse_kem(data, _read(ns.password_file).strip())
        except OSError as err:
            raise ControlError(f"cannot read {ns.kem}: {err.strerror or err}") from None
        except KemError as err:
            raise ControlError(f"{ns.kem}: {err}") from None
        text = "".join(f"{meter} {key.hex()}\n" for meter, key in keys.items())
        return {"text": text, "source": ns.kem}
    if len(ns.source) != 1:
        raise ControlError("keys import needs one FILE, or - for stdin (keys never on argv)")
    source = ns.source[0]
    return {"text": _read(source), "source": "stdin" if source == "-" else source}


def render_audit_csv(entries: list[dict[str, Any]]) -> str:
    """The audit entries as CSV: one row each, arguments as JSON."""
    import csv
    import io
    from datetime import UTC, datetime

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["time", "event", "user", "computer", "tenant", "action", "args", "outcome"])
    for e in entries:
        when = datetime.fromtimestamp(float(e["time"]), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        writer.writerow(
            [
                when,
                e["event"],
                e["user"],
                e["computer"],
                e.get("tenant") or "",
                e["action"],
                json.dumps(e["args"]),
                e["outcome"],
            ]
        )
    return out.getvalue().rstrip("\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``concentratorctl`` console script."""
    ns = _parser().parse_args(argv)
    if ns.command in ("tap", "mbus"):
        try:
            if ns.command == "mbus":
                return mbus(ns.socket, _args_of(ns))
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
    elif ns.command == "audit" and ns.csv:
        print(render_audit_csv(result))
    elif ns.command == "visible":
        print(render_visible(result))
    else:
        print(render_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
