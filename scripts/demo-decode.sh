#!/usr/bin/env bash
# The main job for `make run`: decode the project's sample telegrams end to end.
#
#   concentratord demo    prints sample wireless M-Bus telegrams built by the project's own
#                         builder, one hex line each, and writes the demo meters' keys file
#   concentratord decode  reads hex telegrams on stdin, prints one JSON object per line
#
# So the output is one JSON object per sample telegram: its decoded fields, or {"error": ...}.
# Extra arguments are passed to `decode`, e.g.  scripts/demo-decode.sh --records
# Run `make setup` first (make run does): it uses the console scripts in .venv/bin/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN="${CONCENTRATORD_VENV:-.venv}/bin"

if [[ ! -x "$BIN/concentratord" ]]; then
    echo "demo-decode: $BIN/concentratord not found: run 'make setup' first" >&2
    exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$BIN/concentratord" demo --keys-out "$work/demo.keys" > "$work/demo.hex"
"$BIN/concentratord" decode --keys "$work/demo.keys" "$@" < "$work/demo.hex"
