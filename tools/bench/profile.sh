#!/usr/bin/env bash
# tools/bench/profile.sh - where a consumer's instructions and heap
# allocations go, per event, under valgrind's callgrind (instruction counts
# are repeatable whatever else the machine does).
#
#   tools/bench/profile.sh [--bin DIR] [--consumer NAME] [--events N] [--keep]
#
# Starts its own redis-server (on a unix socket) and broker (loopback),
# plays N changes of the simulator's shop on the consumer's topic, then runs
# `cachefleet-<NAME> --rewarm` under callgrind: the consume loop's own path
# (poll, decode, plan, coalesce, apply to Redis), reading the topic from its
# start to its end and exiting by itself.  A re-warm stores and commits no
# offsets; everything else is the live path.  Prints instructions and
# malloc/calloc/realloc calls per event (start-up and librdkafka's threads
# included) and the functions with the most inclusive instructions.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=build
consumer=stock
events=100000
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
    --bin) bin=$2; shift 2 ;;
    --consumer) consumer=$2; shift 2 ;;
    --events) events=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "profile.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
for tool in valgrind callgrind_annotate redis-server; do
    command -v "$tool" >/dev/null || { echo "profile.sh: $tool not found" >&2; exit 1; }
done
prog=$bin/cachefleet-$consumer
[ -x "$prog" ] || { echo "profile.sh: $prog missing (build first)" >&2; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/cachefleet-profile-XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "$keep" = 1 ]; then echo "profile.sh: files kept in $dir" >&2; else rm -rf "$dir"; fi
}
trap cleanup EXIT

redis-server --port 0 --unixsocket "$dir/redis.sock" --save "" --appendonly no \
    --dir "$dir" --logfile "$dir/redis.log" &
pids+=($!)
"$bin/cachefleet-broker" --brokers 1 --partitions 8 --bootstrap-file "$dir/bootstrap" \
    --log-level warn >"$dir/broker.out" 2>"$dir/broker.log" &
pids+=($!)
for _ in $(seq 100); do
    [ -s "$dir/bootstrap" ] && [ -S "$dir/redis.sock" ] && break
    sleep 0.1
done
[ -s "$dir/bootstrap" ] && [ -S "$dir/redis.sock" ] || {
    echo "profile.sh: redis or the broker did not start" >&2; exit 1; }

echo "profile.sh: producing $events changes on shop.$consumer" >&2
"$bin/cachefleet-sim" --brokers-file "$dir/bootstrap" --schemas schemas --topics "$consumer" \
    --events "$events" --rate 0 --quiet >"$dir/sim.out"

echo "profile.sh: cachefleet-$consumer --rewarm under callgrind (minutes)" >&2
CACHEFLEET_KAFKA_BROKERS=$(head -1 "$dir/bootstrap") \
CACHEFLEET_REDIS_UNIX_SOCKET=$dir/redis.sock \
CACHEFLEET_SCHEMAS_DIR=$PWD/schemas \
CACHEFLEET_HTTP_PORT=0 \
    valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" "$prog" --rewarm \
    >"$dir/consumer.log" 2>&1 || {
    echo "profile.sh: the consumer failed; its log:" >&2; tail -5 "$dir/consumer.log" >&2; exit 1; }

read_events=$(grep -o '"msg":"re-warm complete","events":[0-9]*' "$dir/consumer.log" |
    grep -o '[0-9]*$' || true)
[ -n "$read_events" ] && [ "$read_events" -gt 0 ] || {
    echo "profile.sh: no 're-warm complete' line in the consumer's log" >&2; exit 1; }
callgrind_annotate --inclusive=yes "$dir/callgrind.out" >"$dir/annotate.txt" 2>/dev/null
total=$(awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}' "$dir/annotate.txt")
# Calls of the allocator: callgrind writes "cfn=(id) name" once per name,
# then "cfn=(id)", and the call count on the "calls=" line that follows.
allocs=$(awk '
    /^cfn=/ {
        id = $1; sub(/^cfn=/, "", id)
        if (NF > 1) name[id] = $2
        cur = name[id]
        next
    }
    /^calls=/ {
        if (cur == "malloc" || cur == "calloc" || cur == "realloc") {
            n = $1; sub(/^calls=/, "", n); sum += n
        }
        cur = ""
    }
    END { printf "%d\n", sum }' "$dir/callgrind.out")

echo "consumer: $consumer; events read: $read_events (cachefleet-sim --topics $consumer --events $events)"
awk -v t="$total" -v a="$allocs" -v n="$read_events" 'BEGIN {
    printf "instructions: %d in all, %.0f per event\n", t, t / n
    printf "malloc/calloc/realloc calls: %d in all, %.2f per event\n", a, a / n
}'
echo "most inclusive instructions (share of all):"
# One line per function (the lines naming their object file), symbolized.
awk -v t="$total" '/^ *[0-9,]+ .*:.*\[/ && !/\?\?\?:0x/ && k < 20 {
    c = $1; gsub(",", "", c); fn = $0; sub(/^ *[0-9,]+ +(\([^)]*\) +)?/, "", fn)
    printf "  %5.1f%%  %s\n", 100 * c / t, fn
    k++
}' "$dir/annotate.txt"
