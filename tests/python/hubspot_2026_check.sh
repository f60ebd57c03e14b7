#!/usr/bin/env bash
# Checks the HubSpot simulator's 2026-09 paths with plain HTTP (Python's standard library,
# no HubSpot client): create/read/list/search, properties, batch upsert and update with trace
# ids, a 207 and a validation error, an OAuth client-credentials token, a Webhooks Journal
# subscription and a journal batch read, against `tte-sync simulate`.
#
# Usage: tests/python/hubspot_2026_check.sh [path/to/tte-sync]
#   default binary: target/debug/tte-sync (under $CARGO_TARGET_DIR when set)
# Exits non-zero when any answer's status or shape differs from the reference.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
binary="${1:-${CARGO_TARGET_DIR:-$root/target}/debug/tte-sync}"

if [[ ! -x "$binary" ]]; then
    echo "tte-sync binary not found at $binary; build it (cargo build -p tte-sync) or pass its path" >&2
    exit 2
fi

log="$(mktemp)"
"$binary" simulate --crm-port 0 --tte-port 0 --seed-contacts 5 >"$log" 2>&1 &
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
    [[ -n "$base_url" ]] && grep -q "Press Ctrl-C" "$log" && break
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
field() { awk -v key="$1" 'index($0, key) == 3 {print $NF; exit}' "$log"; }
static_token="$(field "static app token")"
client_id="$(field "OAuth client id")"
client_secret="$(field "OAuth client secret")"
portal_id="$(field "portal id")"
for value in static_token client_id client_secret portal_id; do
    if [[ -z "${!value}" ]]; then
        echo "tte-sync simulate did not print the $value:" >&2
        cat "$log" >&2
        exit 1
    fi
done

python3 "$here/hubspot_2026_check.py" "$base_url" "$static_token" "$client_id" "$client_secret" "$portal_id"
