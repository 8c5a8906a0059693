# deps.sh - sourced by tools/test.sh and tools/local.sh: installs the Debian
# packages cachefleet needs that are missing, and nothing that is there.
#
# As root it runs apt-get; otherwise through sudo.  A second run installs
# nothing and takes a fraction of a second.

CF_PACKAGES=(
    build-essential cmake pkg-config clang libclang-rt-14-dev
    librdkafka-dev libhiredis-dev libavro-dev libconfig-dev libcmocka-dev
    libjansson-dev libmicrohttpd-dev
    redis-server kcat python3 python3-django python3-django-redis
    python3-yaml # tools/validate-docker.sh (ctest integration/docker_files)
)

cf_install_packages() {
    local missing=() p
    for p in "${CF_PACKAGES[@]}" "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=()
    [ "$(id -u)" -ne 0 ] && sudo=(sudo)
    echo "cachefleet: installing ${missing[*]}" >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# cf_build DIR [cmake options...]: configures once, then builds what changed.
cf_build() {
    local dir=$1
    shift
    if [ ! -f "$dir/CMakeCache.txt" ]; then
        cmake -S . -B "$dir" "$@" >/dev/null
    fi
    cmake --build "$dir" -j"$(nproc)"
}
