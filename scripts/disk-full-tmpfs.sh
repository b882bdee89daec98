#!/usr/bin/env bash
# Frames per change refused by a really full disk: the relay's data directory on a 3 MiB
# tmpfs, the file system filled, then one `handle.change` from the stock JavaScript
# automerge-repo client (tests/js/rules_peer.mjs), watched for 10 s. Prints the client's
# refusal notice and its summary (sync frames sent, connections, disconnections) and
# /healthz before and after the disk is freed. Needs root (it mounts the tmpfs), node
# with tests/js installed (npm ci there), python3 and curl.
#
#   cargo build -p setlink-tests --bin setlink-relay && sudo scripts/disk-full-tmpfs.sh
#
# The test suite covers the same path with an injected failure instead
# (tests/tests/js_write_rules.rs, `a_change_the_full_disk_refuses_...`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${SETLINK_RELAY:-$ROOT/target/debug/setlink-relay}"
MNT="$(mktemp -d /tmp/setlink-tmpfs.XXXXXX)"
OUT="$MNT.out"
ERR="$MNT.err"
mount -t tmpfs -o size=3m tmpfs "$MNT"
RELAY=""
cleanup() {
  [ -n "$RELAY" ] && kill "$RELAY" 2>/dev/null && wait "$RELAY" 2>/dev/null
  umount "$MNT" 2>/dev/null || true
  rmdir "$MNT" 2>/dev/null || true
  rm -f "$OUT" "$ERR"
}
trap cleanup EXIT

"$BIN" serve --demo --data-dir "$MNT/data" --listen 127.0.0.1:0 --today 2030-06-14 >"$OUT" 2>"$ERR" &
RELAY=$!
for _ in $(seq 100); do grep -q SETLINK_DEMO_CODE_CREW "$OUT" 2>/dev/null && break; sleep 0.2; done
ADDR=$(grep SETLINK_LISTENING= "$OUT" | cut -d= -f2)
PA=$(grep SETLINK_DEMO_CODE_PA= "$OUT" | cut -d= -f2)
TOKEN=$(curl -s -X POST "http://$ADDR/api/redeem" -H 'content-type: application/json' \
  -d "{\"code\":\"$PA\",\"name\":\"Pat\",\"device_id\":\"js\"}" |
  python3 -c 'import sys, json; print(json.load(sys.stdin)["token"])')
# The demo board's automerge-repo id: base58check of its 16 bytes in the registry.
BOARD=$(python3 - "$MNT/data/setlink.db" <<'PY'
import hashlib, sqlite3, sys
ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
for doc, kind in sqlite3.connect(sys.argv[1]).execute("SELECT id, kind FROM documents"):
    if '"board"' in kind:
        raw = bytes(doc)
        raw += hashlib.sha256(hashlib.sha256(raw).digest()).digest()[:4]
        n, s = int.from_bytes(raw, "big"), ""
        while n:
            n, r = divmod(n, 58)
            s = ALPHABET[r] + s
        print("1" * (len(raw) - len(raw.lstrip(b"\0"))) + s)
        break
PY
)
cd "$ROOT/tests/js"
# A first run with an edit it cannot make only lists the board's runs.
RUN=$({ node rules_peer.mjs --url "ws://$ADDR/sync" --token "$TOKEN" --board "$BOARD" --title nosuchrun=x 2>/dev/null || true; } |
  head -1 | python3 -c 'import sys, json; print(next(iter(json.loads(sys.stdin.readline())["runs"])))')
dd if=/dev/zero of="$MNT/filler" bs=4k 2>/dev/null || true
df -h "$MNT" | tail -1
curl -s -w " (healthz %{http_code})\n" "http://$ADDR/healthz"
node rules_peer.mjs --url "ws://$ADDR/sync" --token "$TOKEN" --board "$BOARD" \
  --title "$RUN=Written to a full disk" --expect refused --stay 10000 --timeout 15000 |
  python3 -c '
import sys, json
for line in sys.stdin:
    v = json.loads(line)
    if v["step"] in ("notice", "error"):
        print(line.strip())
    if v["step"] == "summary":
        print({k: v[k] for k in ("notices", "connections", "disconnections", "syncSent", "syncSentWithChanges")})
'
rm -f "$MNT/filler"
curl -s -w " (healthz %{http_code} after freeing the disk)\n" "http://$ADDR/healthz"
