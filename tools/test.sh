#!/usr/bin/env bash
# tools/test.sh - install what is missing, build, and run every test.
#
# Two builds: gcc with warnings as errors, and clang with AddressSanitizer
# and UndefinedBehaviorSanitizer; the whole suite (unit, integration, the
# Django test) runs in both.  A second run reinstalls nothing and rebuilds
# only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh

cf_install_packages

cf_build build -DCF_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
ctest --test-dir build --output-on-failure -j2 "$@"

CC=clang cf_build build-asan -DCF_WERROR=ON -DCF_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j2 "$@"
echo "cachefleet: all tests passed (build/ and build-asan/)"
