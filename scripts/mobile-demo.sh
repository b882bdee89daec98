#!/usr/bin/env bash
# The PA phone demo (mobile-demo/): a scripted PA's day on the generated Kotlin bindings,
# on the JVM, against a running relay.
#
#   setlink serve --demo            # prints the URL and SETLINK_DEMO_CODE_* invite codes
#   scripts/mobile-demo.sh http://127.0.0.1:7878 <PA code> <COORDINATOR code>
#
# The coordinator code plays the production office in the same process.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ $# -lt 3 ]; then
  echo "usage: $0 <relay-url> <pa-invite-code> <coordinator-invite-code>" >&2
  exit 2
fi
eval "$("$ROOT/scripts/kotlin-env.sh")"
cargo build -p setlink-ffi >&2
OUT="$ROOT/target/mobile-demo"
"$ROOT/scripts/gen-bindings.sh" "$ROOT/target/debug/libsetlink_ffi.so" "$OUT/bindings" >/dev/null
CP="$JNA_JAR:$KOTLINX_COROUTINES"
STAMP="$OUT/classes/.stamp"
if [ ! -f "$STAMP" ] || [ -n "$(find "$OUT/bindings/kotlin-jvm" "$ROOT/mobile-demo/src" -newer "$STAMP" -name '*.kt' | head -n1)" ]; then
  rm -rf "$OUT/classes" && mkdir -p "$OUT/classes"
  "$KOTLINC" -nowarn -jvm-target 17 -cp "$CP" -d "$OUT/classes" "$OUT/bindings/kotlin-jvm" "$ROOT/mobile-demo/src" >&2
  touch "$STAMP"
fi
exec java -Djna.library.path="$ROOT/target/debug" -cp "$OUT/classes:$KOTLIN_STDLIB:$CP" \
  dev.setlink.demo.PaDayKt "$@"
