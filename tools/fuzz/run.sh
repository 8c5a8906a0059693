#!/usr/bin/env bash
# run.sh - build the fuzz targets and fuzz each one for a bounded time.
#
#   tools/fuzz/run.sh [SECONDS_PER_TARGET]     (default 60)
#   tools/fuzz/run.sh --minimize CRASH_FILE [OUT_FILE]
#
# The first form configures a separate build folder (build-fuzz/, clang,
# -DCF_FUZZ=ON), builds the targets, writes the seed corpus from the
# simulator into build-fuzz/tools/fuzz/corpus/<target>/ (where libFuzzer
# also keeps what it finds, from run to run), and runs every target for
# SECONDS_PER_TARGET seconds, one after the other.  The regression inputs of
# tests/regress/<target>/ are given as a second, read-only corpus.  Crashes,
# leaks, timeouts and out-of-memory inputs go to tools/fuzz/crashes/<target>/;
# the script prints each and exits 1 if any target found one, 0 otherwise
# (2: it could not build or run).  Logs: build-fuzz/tools/fuzz/logs/.
#
# The second form shrinks a crash input (libFuzzer's -minimize_crash) with
# the target named by the folder it is in (crashes/<target>/...), or by
# CF_FUZZ_TARGET, into OUT_FILE (default: CRASH_FILE.min).  Save the result
# under tests/regress/<target>/ (see tools/fuzz/README.md).
#
# It installs nothing: it needs clang with libFuzzer (Debian: clang and
# libclang-rt-<version>-dev) and the project's libraries.
# Environment: CF_FUZZ_BUILD (default <repo>/build-fuzz), CF_FUZZ_JOBS
# (build parallelism, default 2), CF_FUZZ_TOLERATE (see fuzz_consumer.c:
# known findings to report without stopping), CC (default clang).
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${CF_FUZZ_BUILD:-$root/build-fuzz}
jobs=${CF_FUZZ_JOBS:-2}
targets=(products carts orders access stock json)
libfuzzer_flags=(-rss_limit_mb=2048 -max_len=65536 -timeout=10 -print_final_stats=1)

die() {
    echo "run.sh: $*" >&2
    exit 2
}

configure_and_build() {
    local cc=${CC:-clang}
    command -v "$cc" >/dev/null || die "$cc not found: the fuzz targets need clang with libFuzzer"
    "$cc" --version 2>/dev/null | grep -q clang || die "$cc is not clang (libFuzzer is clang's)"
    mkdir -p "$build" || die "cannot make $build"
    CC=$cc cmake -S "$root" -B "$build" -DCF_FUZZ=ON -DCF_WERROR=ON \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/fuzz-configure.log" 2>&1 || {
        tail -20 "$build/fuzz-configure.log" >&2
        die "configure failed (log: $build/fuzz-configure.log)"
    }
    cmake --build "$build" --target cachefleet-fuzz -j "$jobs" >"$build/fuzz-build.log" 2>&1 || {
        grep -E "error|Error" "$build/fuzz-build.log" | head -20 >&2
        die "build failed (log: $build/fuzz-build.log)"
    }
}

minimize() {
    local crash=$1 out=${2:-$1.min} target=${CF_FUZZ_TARGET:-}
    [ -f "$crash" ] || die "no file $crash"
    if [ -z "$target" ]; then
        target=$(basename "$(dirname "$crash")")
    fi
    [ -x "$build/tools/fuzz/cachefleet-fuzz-$target" ] || configure_and_build
    local bin=$build/tools/fuzz/cachefleet-fuzz-$target
    [ -x "$bin" ] || die "no target $target (set CF_FUZZ_TARGET)"
    "$bin" -minimize_crash=1 -runs=20000 -max_len=65536 -timeout=10 \
        -exact_artifact_path="$out" "$crash" >"$out.log" 2>&1
    [ -f "$out" ] || die "minimizing failed (log: $out.log)"
    echo "run.sh: $crash ($(wc -c <"$crash") bytes) -> $out ($(wc -c <"$out") bytes)"
    "$bin" "$out" 2>&1 | grep -E "^cachefleet-fuzz|ERROR: |SUMMARY: |runtime error" | head -5
}

if [ "${1:-}" = "--minimize" ]; then
    [ $# -ge 2 ] || die "usage: run.sh --minimize CRASH_FILE [OUT_FILE]"
    minimize "$2" "${3:-}"
    exit 0
fi

seconds=${1:-60}
case $seconds in
'' | *[!0-9]*) die "usage: run.sh [SECONDS_PER_TARGET]" ;;
esac
[ "$seconds" -ge 1 ] || die "SECONDS_PER_TARGET must be at least 1"

configure_and_build
fuzzdir=$build/tools/fuzz
mkdir -p "$fuzzdir/logs" "$fuzzdir/corpus"
"$fuzzdir/cachefleet-fuzz-corpus" --schemas "$root/schemas" --evolved "$here/schemas" \
    --out "$fuzzdir/corpus" --count 200 || die "the corpus generator failed"

found=0
summary=()
for t in "${targets[@]}"; do
    crashes=$here/crashes/$t
    mkdir -p "$crashes"
    before=$(find "$crashes" -type f | wc -l)
    log=$fuzzdir/logs/$t.log
    dict=$here/consumers.dict
    [ "$t" = json ] && dict=$here/json.dict
    regress=()
    [ -d "$root/tests/regress/$t" ] && regress=("$root/tests/regress/$t")
    echo "run.sh: fuzzing $t for $seconds s (log: $log)"
    "$fuzzdir/cachefleet-fuzz-$t" -max_total_time="$seconds" "${libfuzzer_flags[@]}" \
        -dict="$dict" -artifact_prefix="$crashes/" "$fuzzdir/corpus/$t" "${regress[@]}" \
        >"$log" 2>&1
    rc=$?
    after=$(find "$crashes" -type f | wc -l)
    done_line=$(grep -E "^#[0-9]+[[:space:]]+DONE" "$log" | tail -1)
    [ -n "$done_line" ] || done_line=$(grep -E "^#[0-9]+" "$log" | tail -1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    summary+=("$(printf '%-9s rc=%-3s execs=%-10s %s' "$t" "$rc" "${execs:-?}" "$done_line")")
    if [ "$rc" -ne 0 ] || [ "$after" -gt "$before" ]; then
        found=1
        echo "run.sh: $t FOUND A PROBLEM (exit $rc):" >&2
        grep -E "^cachefleet-fuzz|^==[0-9]+== ERROR: |^SUMMARY: |runtime error" "$log" | head -8 >&2
        grep -E "Test unit written to" "$log" >&2
    fi
done

echo
echo "run.sh: summary ($seconds s per target)"
printf '  %s\n' "${summary[@]}"
if [ "$found" -ne 0 ]; then
    echo "run.sh: reproducers are in $here/crashes/<target>/; shrink one with" \
        "'run.sh --minimize FILE' and keep it under tests/regress/<target>/" >&2
    exit 1
fi
exit 0
