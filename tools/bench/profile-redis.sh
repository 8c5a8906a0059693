#!/usr/bin/env bash
# tools/bench/profile-redis.sh - where Redis's time goes when it runs the
# fleet's function library, per operation, under valgrind's callgrind.
#
#   tools/bench/profile-redis.sh [--bin DIR] [--consumer NAME] [--events N]
#                                [--src DIR] [--keep]
#
# Every consumer runs at its Redis ceiling, so this is the profile that
# shows what bounds it.  Debian's redis-server is stripped: the script gets
# Redis's source from Debian (`apt-get source redis`, into --src, default
# ~/.cache/cachefleet/redis-src; needs a deb-src entry, added for this
# command only) and builds redis-server with symbols there once.  It then
# runs cachefleet-bench's "(b) functions" limit for one consumer (the
# consumer's planner, coalesced batches of 2000, FCALL cachefleet_apply)
# with that redis-server under callgrind, and prints per operation sent:
# the FCALL's instructions, those of the commands the library calls
# (redis.call and the command itself), the Lua interpreter's own, the
# conversions of arguments and replies between Lua and Redis, and Lua's
# garbage collector.  Instruction counts are repeatable: two runs of one
# library compare side by side.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=build
consumer=orders
events=50000
src=${XDG_CACHE_HOME:-$HOME/.cache}/cachefleet/redis-src
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
    --bin) bin=$2; shift 2 ;;
    --consumer) consumer=$2; shift 2 ;;
    --events) events=$2; shift 2 ;;
    --src) src=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "profile-redis.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
for tool in valgrind callgrind_annotate apt-get make; do
    command -v "$tool" >/dev/null || { echo "profile-redis.sh: $tool not found" >&2; exit 1; }
done
[ -x "$bin/cachefleet-bench" ] || {
    echo "profile-redis.sh: $bin/cachefleet-bench missing (build first)" >&2; exit 1; }

server=$(ls -d "$src"/redis-*/src/redis-server 2>/dev/null | head -1 || true)
if [ -z "$server" ]; then
    echo "profile-redis.sh: fetching Redis's source from Debian into $src" >&2
    mkdir -p "$src"
    list=$src/deb-src.list
    echo "deb-src http://deb.debian.org/debian $(. /etc/os-release && echo "$VERSION_CODENAME") main" >"$list"
    opts=(-o "Dir::Etc::SourceList=$list" -o Dir::Etc::SourceParts=/dev/null)
    sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get "${opts[@]}" update >"$src/apt.log" 2>&1
    (cd "$src" && apt-get "${opts[@]}" source --download-only redis >>"$src/apt.log" 2>&1)
    tar -C "$src" -xzf "$(ls "$src"/redis_*.orig.tar.gz | head -1)"
    dir=$(ls -d "$src"/redis-*/ | head -1)
    echo "profile-redis.sh: building redis-server with symbols (a few minutes)" >&2
    make -C "$dir" -j"$(nproc)" OPTIMIZATION=-O2 >"$src/build.log" 2>&1 || {
        echo "profile-redis.sh: the build failed; see $src/build.log" >&2; exit 1; }
    server=$dir/src/redis-server
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/cachefleet-profile-redis-XXXXXX")
cleanup() {
    if [ "$keep" = 1 ]; then echo "profile-redis.sh: files kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
cat >"$work/redis-server" <<EOF
#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file=$work/callgrind.%p "$server" "\$@"
EOF
chmod +x "$work/redis-server"

echo "profile-redis.sh: the (b) functions limit of $consumer over $events events, Redis under callgrind" >&2
"$bin/cachefleet-bench" --only "$consumer" --skip naive,consumer,age,scaling,pair \
    --events "$events" --redis-server "$work/redis-server" >"$work/bench.md" 2>"$work/bench.log" || {
    echo "profile-redis.sh: the benchmark failed:" >&2; tail -5 "$work/bench.log" >&2; exit 1; }
ops=$(grep "^| (b) Redis, the fleet" "$work/bench.md" |
    sed -n 's/.*(= [0-9,]* events\/s; \([0-9.]*\) ops\/event.*/\1/p')
[ -n "$ops" ] || { echo "profile-redis.sh: no (b) functions line in the report" >&2; exit 1; }
out=$(ls "$work"/callgrind.* | head -1)
callgrind_annotate --inclusive=yes "$out" >"$work/inclusive.txt" 2>/dev/null
callgrind_annotate "$out" >"$work/self.txt" 2>/dev/null
# First figure of the first line naming a function (inclusive or self).
incl() { awk -v f="$1" '$0 ~ f {gsub(",", "", $1); print $1; exit}' "$work/inclusive.txt"; }
self() { awk -v f="$1" '$0 ~ f {gsub(",", "", $1); print $1; exit}' "$work/self.txt"; }
sent=$(awk -v e="$events" -v o="$ops" 'BEGIN {printf "%.0f", e * o}')
per() { awk -v n="${1:-0}" -v d="$sent" 'BEGIN {printf "%8.0f", n / d}'; }
fcall=$(incl ':fcallCommand ')
cmds=$(incl ':luaRedisGenericCommand ')
inner=$(incl ':scriptCall ')
vm=$(self ':luaV_execute')
args=$(incl ':luaArgsToRedisArgv ')
reply=$(incl ':parseReply ')
arrays=$(incl ':luaCreateArray ')
gc=$(incl ':luaC_step ')
cat <<EOF
cachefleet: Redis running the fleet's functions ($consumer, $sent operations sent in $events events; $(basename "$(dirname "$(dirname "$server")")"), instructions per operation:
  FCALL cachefleet_apply, all             $(per "$fcall")
  redis.call, all                         $(per "$cmds")
    of which the commands run (scriptCall) $(per "$inner")
    of which arguments Lua -> Redis        $(per "$args")
    of which replies Redis -> Lua          $(per "$reply")
  KEYS and ARGV made into Lua tables      $(per "$arrays")
  Lua interpreter, its own                $(per "$vm")
  Lua garbage collector                   $(per "$gc")
EOF
