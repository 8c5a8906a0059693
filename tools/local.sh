#!/usr/bin/env bash
# tools/local.sh - the whole fleet on this machine, fed by the simulator.
#
# Installs what is missing, builds, then starts on loopback only:
#   a redis-server on a free port (no persistence),
#   the project's Kafka-protocol broker (cachefleet-broker),
#   every consumer program (one per topic) with its metrics endpoint,
#   the event simulator playing a shop at --rate events per second,
# and shows what they do with cachefleet-top, the fleet's live view: on a
# terminal it redraws every second in place (the consumers' logs are then
# only in their files, named at start); otherwise, or with --plain, the
# consumers' log lines and the view as plain lines every five seconds.
# Ctrl-C (or --duration) stops everything it started, by PID.
#
# With --duration, the simulator plays that many seconds of traffic, then
# the script waits until the consumers have handled every event and exits
# 0, or exits 1 if they did not within a minute or dead-lettered any (the
# simulator's events are all valid).
#
# Usage: tools/local.sh [--rate N] [--duration SECONDS] [--seed N]
#                       [--products N] [--no-build] [--bin DIR] [--dir DIR]
#                       [--plain]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

rate=200
duration=0
seed=1
products=5000
build=1
bin=""
dir=""
plain=0
while [ $# -gt 0 ]; do
    case "$1" in
    --rate) rate=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --products) products=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --bin) bin=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --plain) plain=1; shift ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "local.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [ $build = 1 ]; then
    . tools/deps.sh
    cf_install_packages
    cf_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
[ -n "$bin" ] || bin=$root/build
[ -x "$bin/cachefleet-broker" ] || { echo "local.sh: $bin/cachefleet-broker missing (build first)" >&2; exit 1; }

[ -n "$dir" ] || dir=$(mktemp -d "${TMPDIR:-/tmp}/cachefleet-local-XXXXXX")
mkdir -p "$dir"
pids=()

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop_all() {
    local code=$?
    trap - EXIT INT TERM
    echo "local.sh: stopping" >&2
    # Reverse order: simulator, consumers, broker, redis; only our own PIDs.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${pids[$i]}" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "${pids[$i]}" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "${pids[$i]}" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    echo "local.sh: logs and data in $dir" >&2
    exit $code
}
trap stop_all EXIT
trap 'exit 0' INT TERM

redis_port=$(free_port)
redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
    --dir "$dir" --logfile "$dir/redis.log" &
pids+=($!)

"$bin/cachefleet-broker" --bootstrap-file "$dir/bootstrap" >"$dir/broker.out" 2>"$dir/broker.log" &
pids+=($!)
for _ in $(seq 1 100); do
    [ -s "$dir/bootstrap" ] && redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.1
done
[ -s "$dir/bootstrap" ] || { echo "local.sh: the broker did not start (see $dir/broker.log)" >&2; exit 1; }
echo "local.sh: redis 127.0.0.1:$redis_port, broker $(cat "$dir/bootstrap"), logs in $dir"

consumers=()
http_ports=()
for prog in "$bin"/cachefleet-*; do
    name=${prog##*/cachefleet-}
    case "$name" in broker|sim|bench|oracle|top|audit) continue ;; esac
    [ -x "$prog" ] || continue
    port=$(free_port)
    CACHEFLEET_KAFKA_BROKERS_FILE="$dir/bootstrap" \
    CACHEFLEET_REDIS_PORT="$redis_port" \
    CACHEFLEET_SCHEMAS_DIR="$root/schemas" \
    CACHEFLEET_HTTP_BIND=127.0.0.1 CACHEFLEET_HTTP_PORT="$port" \
        "$prog" >"$dir/$name.log" 2>&1 &
    pids+=($!)
    consumers+=("$name")
    http_ports+=("$port")
    echo "local.sh: $name consumer, metrics on http://127.0.0.1:$port/metrics"
done

# The live view: in place on a terminal, else plain lines every 5 s.  A
# build without cachefleet-top falls back to the status line below.
view=""
if [ -x "$bin/cachefleet-top" ]; then
    if [ -t 1 ] && [ $plain = 0 ]; then view=tty; else view=plain; fi
fi
endpoints=()
for i in "${!consumers[@]}"; do
    endpoints+=("${consumers[$i]}=127.0.0.1:${http_ports[$i]}")
done

# Each consumer's log, prefixed with its name (info and above); on a
# terminal the view has the screen and the logs stay in their files.
if [ "$view" = tty ]; then
    echo "local.sh: consumer logs in $dir/<consumer>.log"
else
    for name in "${consumers[@]}"; do
        tail -n +1 -F "$dir/$name.log" 2>/dev/null | sed -u "s/^/[$name] /" &
        pids+=($!)
    done
fi

events=0
[ "$duration" -gt 0 ] && events=$((rate * duration))
"$bin/cachefleet-sim" --brokers-file "$dir/bootstrap" --schemas "$root/schemas" \
    --seed "$seed" --rate "$rate" --events "$events" --products "$products" \
    --log-events "$dir/events.jsonl" >"$dir/sim.out" 2>"$dir/sim.log" &
sim=$!
pids+=($sim)
echo "local.sh: simulator at $rate events/s (seed $seed); Ctrl-C stops everything"

view_pid=""
case "$view" in
tty) "$bin/cachefleet-top" --interval 1 "${endpoints[@]}" & view_pid=$! ;;
plain) "$bin/cachefleet-top" --plain --interval 5 "${endpoints[@]}" & view_pid=$! ;;
esac
[ -z "$view_pid" ] || pids+=($view_pid)

metric() { # metric PORT NAME...: the sum of the samples of the named metrics
    python3 - "$@" <<'PY'
import sys, urllib.request
try:
    body = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=2).read().decode()
except Exception:
    print("?"); sys.exit(0)
names = tuple(n + "{" for n in sys.argv[2:])
print(int(sum(float(l.split()[-1]) for l in body.splitlines() if l.startswith(names))))
PY
}

status_line() {
    local line="status:" i p
    for i in "${!consumers[@]}"; do
        p=${http_ports[$i]}
        line+=" ${consumers[$i]} applied=$(metric "$p" cachefleet_events_applied_total)"
        line+=" dlq=$(metric "$p" cachefleet_events_deadlettered_total)"
        line+=" lag=$(metric "$p" cachefleet_consumer_lag)"
    done
    line+=" redis_keys=$(redis-cli -p "$redis_port" dbsize)"
    echo "$line"
}

handled() { # events applied or dead-lettered by every consumer together
    local total=0 i n
    for i in "${!consumers[@]}"; do
        n=$(metric "${http_ports[$i]}" cachefleet_events_applied_total cachefleet_events_deadlettered_total)
        [ "$n" = "?" ] && n=0
        total=$((total + n))
    done
    echo $total
}

if [ -n "$view_pid" ]; then
    wait "$sim" && status=0 || status=$?
    # The view ends with the traffic; what follows is plain text.
    kill -TERM "$view_pid" 2>/dev/null || true
    wait "$view_pid" 2>/dev/null || true
else
    while kill -0 "$sim" 2>/dev/null; do
        sleep 5
        status_line
    done
    wait "$sim" && status=0 || status=$?
fi
produced=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["delivered"])' "$dir/sim.out" 2>/dev/null || echo 0)
echo "local.sh: simulator finished (exit $status), $produced events delivered"
[ "$status" = 0 ] || exit "$status"
for _ in $(seq 1 120); do
    [ "$(handled)" -ge "$produced" ] && break
    sleep 0.5
done
status_line
done_events=$(handled)
if [ "$done_events" -lt "$produced" ]; then
    echo "local.sh: the consumers handled $done_events of $produced events" >&2
    exit 1
fi
dead=0
for i in "${!consumers[@]}"; do
    n=$(metric "${http_ports[$i]}" cachefleet_events_deadlettered_total)
    [ "$n" = "?" ] || dead=$((dead + n))
done
if [ "$dead" -gt 0 ]; then
    # The simulator only produces valid events: a dead letter here is a bug.
    echo "local.sh: $dead events were dead-lettered (see the consumers' logs)" >&2
    exit 1
fi
echo "local.sh: the consumers handled all $produced events, none dead-lettered"
