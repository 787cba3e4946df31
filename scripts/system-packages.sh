#!/usr/bin/env bash
# Ensures the Debian packages whose servers the test suite starts are installed: postgresql
# (initdb, pg_ctl), redis-server and haproxy (DESIGN.md section 5); and chromium, the headless
# browser that Playwright drives in the dashboard's tests (no browser is ever downloaded). The
# tests start their own throwaway servers; this script never leaves a system service running or
# enabled. Idempotent: when every binary is there it only looks. `make pytest` and `make soak`
# run it first.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have_postgres() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || have initdb; }

missing=()
have_postgres || missing+=(postgresql)
have redis-server || missing+=(redis-server)
have haproxy || missing+=(haproxy)
have chromium || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "system-packages.sh: installing ${missing[*]} (Debian packages the tests need)" >&2
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "system-packages.sh: missing ${missing[*]}; install them as root:" \
        "apt-get install ${missing[*]}" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "system-packages.sh: no apt-get here; install ${missing[*]} (or your system's" \
        "equivalents) by hand" >&2
    exit 1
fi

# Debian's maintainer scripts start a service unless policy-rc.d says no (101: action forbidden),
# which invoke-rc.d and deb-systemd-invoke both ask. Ours only while we install, and only when
# there is none already.
policy=/usr/sbin/policy-rc.d
own_policy=false
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" >/dev/null
    "${as_root[@]}" chmod 755 "$policy"
    own_policy=true
fi
remove_policy() { if $own_policy; then "${as_root[@]}" rm -f "$policy"; fi; }
trap remove_policy EXIT

"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"

# Under systemd the packages are also enabled (started at the next boot): undo that. Either way,
# stop whatever a policy-rc.d we did not write let start (the service names are the packages').
for package in "${missing[@]}"; do
    if [ -d /run/systemd/system ]; then
        "${as_root[@]}" systemctl disable --now "$package" >/dev/null 2>&1 || true
    elif command -v service >/dev/null 2>&1; then
        "${as_root[@]}" service "$package" stop >/dev/null 2>&1 || true
    fi
done

still=()
have_postgres || still+=(postgresql)
have redis-server || still+=(redis-server)
have haproxy || still+=(haproxy)
have chromium || still+=(chromium)
if [ ${#still[@]} -gt 0 ]; then
    echo "system-packages.sh: ${still[*]} still missing after apt-get install" >&2
    exit 1
fi
