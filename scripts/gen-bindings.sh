#!/usr/bin/env bash
# Generates every binding flavour from the built library (library mode: the
# metadata is read out of the cdylib, so what is generated is what was built).
#
#   scripts/gen-bindings.sh [LIB] [OUT]
#
# LIB defaults to target/debug/libsetlink_ffi.so (built here if missing),
# OUT to bindings/out. Produces:
#   OUT/kotlin-jvm/      Kotlin for the JVM (JNA, java.lang.ref.Cleaner)
#   OUT/kotlin-android/  Kotlin for Android (android = true, Android cleaner)
#   OUT/swift/           SetlinkFFI.swift, setlink_ffiFFI.h, module.modulemap
#   OUT/python/          setlink_ffi.py
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LIB="${1:-$ROOT/target/debug/libsetlink_ffi.so}"
OUT="${2:-$ROOT/bindings/out}"

if [ ! -f "$LIB" ]; then
  cargo build -p setlink-ffi >&2
fi
BINDGEN="$ROOT/target/debug/uniffi-bindgen"
if [ ! -x "$BINDGEN" ] || [ "$ROOT/bindings/src/bin/uniffi-bindgen.rs" -nt "$BINDGEN" ]; then
  cargo build -p setlink-ffi --bin uniffi-bindgen >&2
fi

gen() {
  local lang="$1" dir="$2"; shift 2
  rm -rf "$dir"
  mkdir -p "$dir"
  # --no-format: ktlint/swiftformat are not part of the toolchain; output is valid as generated.
  "$BINDGEN" generate --no-format --library "$LIB" --language "$lang" --out-dir "$dir" "$@" >/dev/null
}

gen kotlin "$OUT/kotlin-jvm"
gen kotlin "$OUT/kotlin-android" --config "$ROOT/bindings/uniffi-android.toml"
gen swift "$OUT/swift"
gen python "$OUT/python"

# The Swift generator names the modulemap after the FFI module; SwiftPM and Xcode
# look for `module.modulemap`, so provide it under that name too.
if [ -f "$OUT/swift/setlink_ffiFFI.modulemap" ]; then
  cp "$OUT/swift/setlink_ffiFFI.modulemap" "$OUT/swift/module.modulemap"
fi
echo "$OUT"
