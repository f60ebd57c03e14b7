#!/usr/bin/env bash
# Drives the official HubSpot Python client (PyPI hubspot-api-client) against
# `tte-sync simulate`: the simulator must work with a popular client unchanged.
#
# Usage: tests/python/hubspot_client_check.sh [path/to/tte-sync]
#   default binary: target/debug/tte-sync (under $CARGO_TARGET_DIR when set)
# Environment: HUBSPOT_CHECK_VENV  where to create the virtualenv (reused when present)
# Exits non-zero when any call fails or returns something the client cannot parse.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
binary="${1:-${CARGO_TARGET_DIR:-$root/target}/debug/tte-sync}"
venv="${HUBSPOT_CHECK_VENV:-${TMPDIR:-/tmp}/tte-sync-hubspot-client-venv}"
client_version="12.0.0"

if [[ ! -x "$binary" ]]; then
    echo "tte-sync binary not found at $binary; build it (cargo build -p tte-sync) or pass its path" >&2
    exit 2
fi

if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check "hubspot-api-client==$client_version"

log="$(mktemp)"
"$binary" simulate --crm-port 0 --tte-port 0 --seed-contacts 25 >"$log" 2>&1 &
sim_pid=$!
cleanup() {
    kill -INT "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
    rm -f "$log"
}
trap cleanup EXIT

base_url=""
for _ in $(seq 1 100); do
    base_url="$(awk '/base URL/ {print $3; exit}' "$log")"
    [[ -n "$base_url" ]] && break
    if ! kill -0 "$sim_pid" 2>/dev/null; then
        echo "tte-sync simulate exited early:" >&2
        cat "$log" >&2
        exit 1
    fi
    sleep 0.1
done
if [[ -z "$base_url" ]]; then
    echo "tte-sync simulate printed no base URL:" >&2
    cat "$log" >&2
    exit 1
fi
token="$(awk '/private-app token/ {print $3; exit}' "$log")"

"$venv/bin/python" "$here/hubspot_client_check.py" "$base_url" "$token"
