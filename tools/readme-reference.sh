#!/usr/bin/env bash
# tools/readme-reference.sh - the README's configuration reference, from the
# programs themselves (cachefleet-<name> --config-reference).
#
#   tools/readme-reference.sh [--bin DIR]          rewrite the README section
#   tools/readme-reference.sh [--bin DIR] --check  exit 1 if it is out of date
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build
check=0
while [ $# -gt 0 ]; do
    case "$1" in
    --bin) bin=$2; shift 2 ;;
    --check) check=1; shift ;;
    *) echo "readme-reference.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

generate() {
    local first=1 prog name
    echo "Settings shared by every program:"
    echo
    "$bin/cachefleet-products" --config-reference | grep -v '^| `products\.'
    for name in products carts orders access stock; do
        prog=$bin/cachefleet-$name
        [ -x "$prog" ] || { echo "readme-reference.sh: $prog missing" >&2; exit 1; }
        echo
        echo "Settings of \`cachefleet-$name\` only:"
        echo
        "$prog" --config-reference | sed -n '1,2p'
        "$prog" --config-reference | grep "^| \`$name\\." || echo "| (none) | | | | |"
    done
}

begin='<!-- BEGIN CONFIG REFERENCE'
end='<!-- END CONFIG REFERENCE -->'
new=$(mktemp)
trap 'rm -f "$new"' EXIT
{
    sed -n "1,/^$begin/p" README.md
    generate
    sed -n "/^$end/,\$p" README.md
} >"$new"
# The ACL SETUSER line the README gives for the fleet's user must grant
# what docker/redis-acl.conf grants (the file is what the tests run under).
rules=$(sed -n 's/^user cachefleet on resetpass resetkeys resetchannels //p' docker/redis-acl.conf)
setuser="    ACL SETUSER cachefleet reset on >PASSWORD ${rules%%(*}\"(${rules#*(}\""
if [ -z "$rules" ] || ! grep -qxF -- "$setuser" README.md; then
    echo "readme-reference.sh: README.md's ACL SETUSER cachefleet line differs from docker/redis-acl.conf; it should read:" >&2
    echo "$setuser" >&2
    exit 1
fi
if [ $check = 1 ]; then
    if ! diff -u README.md "$new" >&2; then
        echo "readme-reference.sh: README.md's configuration reference is out of date;" \
             "run tools/readme-reference.sh" >&2
        exit 1
    fi
    exit 0
fi
cp "$new" README.md
