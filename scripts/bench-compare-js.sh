#!/usr/bin/env bash
# Side-by-side benchmark: setlink's relay against the reference JavaScript
# automerge-repo 2.5.x sync server (Node, NodeWSServerAdapter, nodefs storage), the
# same Rust client workload against each, alternating, fresh servers every run.
# Prints each run, then medians, min–max and the ratio (bar: setlink ≥ 10× faster).
#
#   scripts/bench-compare-js.sh [--rounds N] [--devices N] [--docs N] [--changes N]
#                               [--follow N] [--timeout-secs N]
set -euo pipefail
cd "$(dirname "$0")/.."

command -v node >/dev/null || { echo "node (>= 18) is required for the JS server" >&2; exit 1; }
command -v npm >/dev/null || { echo "npm is required to install the JS server" >&2; exit 1; }

# npm ci only when the lock file changed since the last install.
js=tests/bench-js
stamp="$js/node_modules/.setlink-lock.sha256"
want="$(sha256sum "$js/package-lock.json" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  # Some npm setups write lock files without cbor-extract's per-platform optional
  # packages, which `npm ci` then refuses; `npm install` installs the same locked versions.
  (cd "$js" && { npm ci --no-audit --no-fund || npm install --no-audit --no-fund; })
  echo "$want" > "$stamp"
fi

cargo build --release -p setlink-server --bin setlink
cargo build --release -p setlink-tests --bin compare_js

target="${CARGO_TARGET_DIR:-target}"
exec "$target/release/compare_js" \
  --setlink "$target/release/setlink" \
  --js-server "$js/server.mjs" \
  "$@"
