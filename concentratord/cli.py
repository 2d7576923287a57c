"""The ``concentratord`` command: the daemon and its offline tools.

Sub-commands import what they need when they run, so that ``decode`` on a small batch
starts fast. Logs and argument errors go to stderr; stdout carries only results.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from concentratord import __version__
from concentratord.logs import LEVELS
from radio.modules.registry import MODULE_NAMES


def _key_options(parser: argparse.ArgumentParser) -> None:
    """``--key ID=HEX`` (repeatable) and ``--keys FILE``, as every decoding command takes them."""
    parser.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="ID=HEX",
        help="the key of one meter (repeatable)",
    )
    parser.add_argument("--keys", metavar="FILE", help="keys file: 'ID HEX' or 'ID,HEX' lines")


def _drivers_option(parser: argparse.ArgumentParser) -> None:
    """``--drivers DIR``: more data drivers, read as ``drivers.dir`` is."""
    parser.add_argument(
        "--drivers", metavar="DIR", help="more data drivers (*.toml, as drivers.dir)"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="concentratord", description="Wireless M-Bus meter-reading gateway."
    )
    parser.add_argument("--version", action="version", version=f"concentratord {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run the gateway daemon",
        description="Run the gateway: radio, pipeline, store, schedules, MQTT uplink.",
    )
    run.add_argument("--config", required=True, metavar="FILE", help="the TOML configuration")
    run.add_argument("--status", action="store_true", help="a live status line on stderr")
    run.add_argument(
        "--log-level", choices=LEVELS, help="debug, info, warning or error (default: log.level)"
    )

    check = sub.add_parser("config", help="check a configuration file")
    check.add_argument("action", choices=["check"])
    check.add_argument("--config", required=True, metavar="FILE")

    decode = sub.add_parser(
        "decode",
        help="decode hex telegrams from stdin, one JSON object per line on stdout",
        description="Decode hex telegrams (one per line on stdin) into JSON (one per line).",
    )
    _key_options(decode)
    decode.add_argument(
        "--records", action="store_true", help="add every raw data record to the output"
    )
    _drivers_option(decode)

    analyze = sub.add_parser(
        "analyze",
        help="lay one telegram open byte by byte: layers, records, drivers, why it fails",
        description="Analyze one hex telegram (the argument, or stdin): every layer annotated.",
    )
    analyze.add_argument("telegram", nargs="?", metavar="HEX", help="the telegram (else stdin)")
    _key_options(analyze)
    _drivers_option(analyze)
    analyze.add_argument("--json", action="store_true", help="one JSON object")

    drivers = sub.add_parser(
        "drivers",
        help="list the meter drivers (the package's and a directory's)",
        description="List the meter drivers: one JSON object per driver, or docs/meters.md.",
    )
    _drivers_option(drivers)
    drivers.add_argument(
        "--markdown", action="store_true", help="the supported-meters page (docs/meters.md)"
    )

    listen = sub.add_parser(
        "listen",
        help="print every telegram a radio module hears, decoded, until SIGINT/SIGTERM",
        description="Open a radio module, print one JSON object per telegram heard.",
    )
    listen.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0")
    listen.add_argument(
        "--module",
        required=True,
        choices=MODULE_NAMES,
    )
    listen.add_argument("--mode", default="c1", choices=["c1", "t1", "c1t1", "s1"])
    _key_options(listen)
    listen.add_argument("--table", action="store_true", help="a human table instead of JSON")

    demo = sub.add_parser(
        "demo",
        help="print sample telegrams built by concentratord (hex, one per line)",
        description="Print demo telegrams built by concentratord's own builder.",
    )
    demo.add_argument("--keys-out", metavar="FILE", help="write the demo meters' keys file")

    simulate = sub.add_parser(
        "simulate",
        help="a simulated meter field behind an emulated radio module on a pty",
        description="Run a simulated meter field behind an emulated module; print its pty.",
    )
    simulate.add_argument("--meters", type=int, required=True, metavar="N")
    simulate.add_argument("--module", required=True, metavar="NAME", help="e.g. im871a")
    simulate.add_argument("--mode", choices=("fixed", "driveby"), default="fixed")
    simulate.add_argument("--speed", type=float, default=1.0, help="time scale (60: 1 h/min)")
    simulate.add_argument("--seed", type=int, default=0)
    simulate.add_argument("--keys-out", metavar="FILE", help="write the meters' keys file")
    simulate.add_argument("--link", metavar="PATH", help="symlink path of the pty")
    simulate.add_argument("--loss", type=float, default=0.0, help="random loss probability")
    simulate.add_argument(
        "--alarm-rate", type=float, default=0.0, help="random alarms per meter per day"
    )
    simulate.add_argument("--no-collisions", action="store_true", help="no air collisions")
    simulate.add_argument("--mix", metavar="KIND=SHARE,...", help="e.g. water=0.8,heat=0.2")
    simulate.add_argument(
        "--mbus-slaves", type=int, default=0, metavar="N", help="also a wired bus of N slaves"
    )
    simulate.add_argument("--mbus-link", metavar="PATH", help="symlink path of the bus's pty")

    mbus = sub.add_parser(
        "mbus",
        help="wired M-Bus master: scan the bus or read one slave",
        description="Talk to wired M-Bus slaves through a level converter on a serial port.",
    )
    mbus_sub = mbus.add_subparsers(dest="mbus_command", required=True, metavar="ACTION")
    scan = mbus_sub.add_parser("scan", help="find the slaves (one JSON object per slave)")
    read = mbus_sub.add_parser("read", help="read one slave, decoded as `decode` prints it")
    for p in (scan, read):
        p.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0")
        p.add_argument("--baud", type=int, default=2400, choices=(300, 2400, 9600))
        p.add_argument(
            "--margin",
            type=float,
            default=0.1,
            metavar="S",
            help="seconds added to the answer window (USB converters; default 0.1)",
        )
    how = scan.add_mutually_exclusive_group()
    how.add_argument("--primary", action="store_true", help="primary addresses 0-250 (default)")
    how.add_argument("--secondary", action="store_true", help="the secondary wildcard scan")
    scan.add_argument(
        "--addresses",
        default="0-250",
        metavar="FIRST-LAST",
        help="primary addresses to probe (default 0-250)",
    )
    scan.add_argument(
        "--manufacturers",
        metavar="ABC,...",
        help="secondary scan: manufacturers to try for colliding ids (default: every code)",
    )
    read.add_argument(
        "--address", required=True, metavar="A", help="0-250, or 16 hex digits (secondary)"
    )
    read.add_argument("--records", action="store_true", help="add every raw data record")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``concentratord`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "run":
        from concentratord.run_cmd import run_daemon

        return run_daemon(args.config, args.status, args.log_level)
    if args.command == "config":
        from concentratord.config import ConfigError, check_config

        try:
            warnings = check_config(args.config)
        except ConfigError as err:
            print(f"concentratord: {err}", file=sys.stderr)
            return 2
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(f"{args.config}: ok")
        return 0
    if args.command == "decode":
        from concentratord.decode_cmd import run_decode

        return run_decode(args.key, args.keys, args.records, drivers_dir=args.drivers)
    if args.command == "analyze":
        from concentratord.analyze_cmd import run_analyze

        return run_analyze(args.telegram, args.key, args.keys, args.drivers, args.json)
    if args.command == "drivers":
        from concentratord.drivers_cmd import run_drivers

        return run_drivers(args.drivers, args.markdown)
    if args.command == "listen":
        from concentratord.decode_cmd import load_keys
        from concentratord.listen_cmd import run_listen
        from protocols.textformats import KeyFileError

        try:
            keys = load_keys(args.key, args.keys)
        except KeyFileError as err:
            print(f"concentratord listen: {err}", file=sys.stderr)
            return 2
        return run_listen(args.port, args.module, args.mode, keys, args.table)
    if args.command == "demo":
        from concentratord.demo import run_demo

        return run_demo(args.keys_out)
    if args.command == "simulate":
        from concentratord.simulate_cmd import SimulateOptions, run_simulate

        return run_simulate(
            SimulateOptions(
                meters=args.meters,
                module=args.module,
                mode=args.mode,
                speed=args.speed,
                seed=args.seed,
                keys_out=args.keys_out,
                link=args.link,
                loss=args.loss,
                alarm_rate=args.alarm_rate,
                collisions=not args.no_collisions,
                mix=args.mix,
                mbus_slaves=args.mbus_slaves,
                mbus_link=args.mbus_link,
            )
        )
    if args.command == "mbus":
        from concentratord.mbus_cmd import (
            parse_addresses,
            parse_manufacturers,
            run_read,
            run_scan,
        )

        if args.mbus_command == "scan":
            try:
                addresses = parse_addresses(args.addresses)
                manufacturers = parse_manufacturers(args.manufacturers)
            except ValueError as err:
                print(f"concentratord mbus scan: {err}", file=sys.stderr)
                return 2
            return run_scan(
                args.port,
                args.baud,
                args.secondary,
                margin_s=args.margin,
                addresses=addresses,
                manufacturers=manufacturers,
            )
        from concentratord.config.mbus import parse_meter_address

        try:
            address = parse_meter_address(args.address)
        except ValueError as err:
            print(f"concentratord mbus read: --address: {err}", file=sys.stderr)
            return 2
        return run_read(args.port, args.baud, address, args.records, margin_s=args.margin)
    return 2  # pragma: no cover - argparse enforces the choices


if __name__ == "__main__":
    sys.exit(main())
