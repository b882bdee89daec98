#!/usr/bin/env bash
# Checks what of the mobile packaging can be checked on this machine: the Swift sources,
# header and modulemap (module name, declarations, link + checksums against the built
# library), the Android-flavour Kotlin (compiles against JNA but for the Android SDK
# classes), and the Python bindings (run for real). Ends with `N passed, N failed`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
eval "$("$ROOT/scripts/kotlin-env.sh")"
cargo build -p setlink-ffi >&2
OUT="$ROOT/target/bindings-check"
"$ROOT/scripts/gen-bindings.sh" "$ROOT/target/debug/libsetlink_ffi.so" "$OUT" >/dev/null
exec python3 "$ROOT/scripts/check_bindings.py" "$OUT" "$ROOT/target/debug/libsetlink_ffi.so" \
  "$KOTLINC" "$JNA_JAR:$KOTLINX_COROUTINES"
