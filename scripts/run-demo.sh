#!/usr/bin/env bash
# The main job for `make run`: the daemon against a simulated meter field, publishing to a
# local Mosquitto, with a live status line.
#
#   1. Mosquitto on 127.0.0.1:${DEMO_MQTT_PORT:-1883}, started here unless one already listens
#   2. concentratord simulate: ${DEMO_METERS:-200} meters behind an emulated iM871A on a pty,
#      time running ${DEMO_SPEED:-60}x (an hour a minute), and a wired M-Bus of
#      ${DEMO_MBUS_SLAVES:-5} slaves behind an emulated level converter on another pty
#   3. concentratord run: the gateway, 5-minute values for 5 priority meters (every 5 s at
#      60x), hourly values for all (every minute), alarms at once; the installer's page on
#      http://127.0.0.1:${DEMO_WEB_PORT:-8080}/
#
# Watch the broker in another terminal:
#   mosquitto_sub -h 127.0.0.1 -p 1883 -t 'concentratord/#' -v
# Ctrl-C stops everything. State (store, keys, config) lives in .demo/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN="${CONCENTRATORD_VENV:-.venv}/bin"
PORT="${DEMO_MQTT_PORT:-1883}"
METERS="${DEMO_METERS:-200}"
SPEED="${DEMO_SPEED:-60}"
MBUS_SLAVES="${DEMO_MBUS_SLAVES:-5}"
DEMO="$PWD/.demo"
WEB_PORT="${DEMO_WEB_PORT:-8080}"
# The demo's web token: loopback only, shown below so the page can be opened at once.
WEB_TOKEN="demo-installer-token-0001"

if [[ ! -x "$BIN/concentratord" ]]; then
    echo "run-demo: $BIN/concentratord not found: run 'make setup' first" >&2
    exit 1
fi
rm -rf "$DEMO"
mkdir -p "$DEMO/state"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
if listening; then
    echo "run-demo: using the broker already listening on 127.0.0.1:$PORT" >&2
else
    command -v mosquitto >/dev/null || { echo "run-demo: mosquitto not installed: make setup" >&2; exit 1; }
    mosquitto -p "$PORT" >"$DEMO/mosquitto.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do listening && break; sleep 0.1; done
    listening || { echo "run-demo: mosquitto did not start (see $DEMO/mosquitto.log)" >&2; exit 1; }
    echo "run-demo: started mosquitto on 127.0.0.1:$PORT" >&2
fi

"$BIN/concentratord" simulate --meters "$METERS" --module im871a --speed "$SPEED" --seed 7 \
    --keys-out "$DEMO/keys.txt" --link "$DEMO/ttyEMU0" --alarm-rate 2 \
    --mbus-slaves "$MBUS_SLAVES" --mbus-link "$DEMO/ttyMBUS0" \
    >"$DEMO/simulate.out" 2>"$DEMO/simulate.log" &
pids+=($!)
for _ in $(seq 100); do [[ -s "$DEMO/simulate.out" && -s "$DEMO/keys.txt" ]] && break; sleep 0.1; done
chmod 600 "$DEMO/keys.txt"
priority=$(grep -v '^#' "$DEMO/keys.txt" | head -5 | awk '{printf "%s\"%s\"", (NR>1?", ":""), $1}')

cat >"$DEMO/concentratord.toml" <<TOML
# Written by scripts/run-demo.sh: the demo gateway against the simulated field.
[gateway]
id = "gw-demo"
profile = "concentrator"
state_dir = "$DEMO/state"

[radio]
module = "im871a"
port = "$DEMO/ttyEMU0"
mode = "c1"

[keys]
file = "$DEMO/keys.txt"

[schedule]
priority_meters = [$priority]
time_scale = $SPEED

[clock]
# Simulated time runs from the host's clock at $SPEED x: whether the host is synchronised
# says nothing about it (a sandbox may well not be).
source = "trusted"

[uplink]
broker = "mqtt://127.0.0.1:$PORT"

[storage]
path = "$DEMO/state/store.sqlite"

[control]
socket = "$DEMO/state/control.sock"

[web]
listen = "127.0.0.1:$WEB_PORT"

[[web.token]]
name = "demo-installer"
token = "$WEB_TOKEN"
TOML
if (( MBUS_SLAVES > 0 )); then
    # The wired bus: each slave polled every 5 minutes (5 s at 60x) at its primary address.
    printf '\n[[mbus]]\nport = "%s"\nbaud = 2400\ninterval = "5m"\n' "$DEMO/ttyMBUS0" \
        >>"$DEMO/concentratord.toml"
    for n in $(seq "$MBUS_SLAVES"); do
        printf '[[mbus.meter]]\naddress = %d\n' "$n" >>"$DEMO/concentratord.toml"
    done
fi

echo "run-demo: $METERS simulated meters at ${SPEED}x; watch the broker with:" >&2
echo "    mosquitto_sub -h 127.0.0.1 -p $PORT -t 'concentratord/#' -v" >&2
echo "run-demo: control socket: $BIN/concentratorctl --socket $DEMO/state/control.sock meters" >&2
echo "run-demo: installer's page: http://127.0.0.1:$WEB_PORT/ (token $WEB_TOKEN)" >&2
"$BIN/concentratord" run --config "$DEMO/concentratord.toml" --status
