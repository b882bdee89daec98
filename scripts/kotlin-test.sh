#!/usr/bin/env bash
# Builds setlink-ffi, generates the JVM Kotlin bindings, compiles them with the JUnit 4
# tests using kotlinc (npm `kotlin-compiler`) against Debian's JNA, and runs the tests on
# the JVM against the real libsetlink_ffi.so. Ends with `N passed, N failed`.
#
#   scripts/kotlin-test.sh [TestClass ...]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
eval "$("$ROOT/scripts/kotlin-env.sh")"

cargo build -p setlink-ffi >&2
# The relay binary for the sync tests (server crate, `setlink serve`).
if [ -z "${SETLINK_BIN:-}" ]; then
  cargo build -p setlink-server --bin setlink >&2
  export SETLINK_BIN="$ROOT/target/debug/setlink"
fi
# The test CA and relay certificate maker for the TLS tests (a Rust bin: rcgen).
if [ -z "${SETLINK_TEST_CERTS_BIN:-}" ]; then
  cargo build -p setlink-tests --bin test-certs >&2
  export SETLINK_TEST_CERTS_BIN="$ROOT/target/debug/test-certs"
fi
OUT="$ROOT/target/kotlin"
"$ROOT/scripts/gen-bindings.sh" "$ROOT/target/debug/libsetlink_ffi.so" "$OUT/bindings" >/dev/null

CP="$JNA_JAR:$KOTLINX_COROUTINES:$JUNIT_JAR:$HAMCREST_JAR"
mkdir -p "$OUT/classes"
SRCS=("$OUT/bindings/kotlin-jvm" "$ROOT/bindings/kotlin-tests/src")
STAMP="$OUT/classes/.stamp"
# Recompile only when a source changed: kotlinc costs tens of seconds on this machine.
if [ ! -f "$STAMP" ] || [ -n "$(find "${SRCS[@]}" -newer "$STAMP" -name '*.kt' | head -n1)" ]; then
  rm -rf "$OUT/classes" && mkdir -p "$OUT/classes"
  "$KOTLINC" -nowarn -jvm-target 17 -cp "$CP" -d "$OUT/classes" "${SRCS[@]}" >&2
  touch "$STAMP"
fi

export SETLINK_ROOT="$ROOT"
exec java -Djna.library.path="$ROOT/target/debug" \
  -cp "$OUT/classes:$KOTLIN_STDLIB:$CP" dev.setlink.tests.RunnerKt "$@"
