#!/usr/bin/env bash
# Packages setlink for iOS (and macOS) as a Swift package:
#   OUT/SetlinkFFI/
#     Package.swift                       binaryTarget `setlink_ffiFFI` + target `SetlinkFFI`
#     setlink_ffiFFI.xcframework          static libraries: iOS device, iOS simulator
#                                         (arm64 + x86_64), macOS (arm64 + x86_64)
#     Sources/SetlinkFFI/SetlinkFFI.swift the generated Swift bindings
# The xcframework's headers hold setlink_ffiFFI.h and a module.modulemap declaring
# `module setlink_ffiFFI`, the module the generated Swift imports.
#
#   scripts/ios.sh [--sources-only] [OUT]              (OUT defaults to bindings/out/ios)
#
# Needs macOS with Xcode (xcodebuild, lipo) and rustup. Add the package to an app with
# File > Add Package Dependencies > Add Local..., or reference the folder from
# another Package.swift. --sources-only writes Package.swift, the Swift sources and the
# headers without building libraries (what scripts/check-bindings.sh checks on Linux).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SOURCES_ONLY=0
if [ "${1:-}" = "--sources-only" ]; then SOURCES_ONLY=1; shift; fi
OUT="${1:-$ROOT/bindings/out/ios}"
PKG="$OUT/SetlinkFFI"
MODULE="setlink_ffiFFI"
export IPHONEOS_DEPLOYMENT_TARGET="${IPHONEOS_DEPLOYMENT_TARGET:-15.0}"
export MACOSX_DEPLOYMENT_TARGET="${MACOSX_DEPLOYMENT_TARGET:-12.0}"

rm -rf "$PKG" "$OUT/headers" "$OUT/generated"
mkdir -p "$PKG/Sources/SetlinkFFI" "$OUT/headers/$MODULE"

if [ "$SOURCES_ONLY" = 0 ]; then
  if [ "$(uname -s)" != Darwin ] || ! command -v xcodebuild >/dev/null; then
    echo "ios.sh builds the XCFramework on macOS with Xcode; here use --sources-only" >&2
    exit 1
  fi
  TARGETS="aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin"
  for t in $TARGETS; do
    rustup target add "$t"
    cargo build --release -p setlink-ffi --lib --target "$t"
  done
  mkdir -p "$OUT/lib/ios-sim" "$OUT/lib/macos"
  lipo -create target/aarch64-apple-ios-sim/release/libsetlink_ffi.a \
    target/x86_64-apple-ios/release/libsetlink_ffi.a -output "$OUT/lib/ios-sim/libsetlink_ffi.a"
  lipo -create target/aarch64-apple-darwin/release/libsetlink_ffi.a \
    target/x86_64-apple-darwin/release/libsetlink_ffi.a -output "$OUT/lib/macos/libsetlink_ffi.a"
  HOST_LIB="$ROOT/target/aarch64-apple-darwin/release/libsetlink_ffi.dylib"
elif [ -n "${SETLINK_HOST_LIB:-}" ]; then
  # An already built host library to read the bindings from.
  HOST_LIB="$SETLINK_HOST_LIB"
else
  cargo build --release -p setlink-ffi --lib >&2
  HOST_LIB="$ROOT/target/release/libsetlink_ffi.so"
  [ -f "$HOST_LIB" ] || HOST_LIB="$ROOT/target/release/libsetlink_ffi.dylib"
fi

"$ROOT/scripts/gen-bindings.sh" "$HOST_LIB" "$OUT/generated" >/dev/null
cp "$OUT/generated/swift/SetlinkFFI.swift" "$PKG/Sources/SetlinkFFI/"
# In a subdirectory so that two xcframeworks in one app do not both claim
# Headers/module.modulemap.
cp "$OUT/generated/swift/$MODULE.h" "$OUT/headers/$MODULE/"
cp "$OUT/generated/swift/$MODULE.modulemap" "$OUT/headers/$MODULE/module.modulemap"

if [ "$SOURCES_ONLY" = 0 ]; then
  xcodebuild -create-xcframework \
    -library target/aarch64-apple-ios/release/libsetlink_ffi.a -headers "$OUT/headers" \
    -library "$OUT/lib/ios-sim/libsetlink_ffi.a" -headers "$OUT/headers" \
    -library "$OUT/lib/macos/libsetlink_ffi.a" -headers "$OUT/headers" \
    -output "$PKG/$MODULE.xcframework"
fi

cat > "$PKG/Package.swift" <<SWIFT
// swift-tools-version:5.9
import PackageDescription

let package = Package(
    name: "SetlinkFFI",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "SetlinkFFI", targets: ["SetlinkFFI"]),
    ],
    targets: [
        // The Rust core as static libraries; its module map declares \`$MODULE\`.
        .binaryTarget(name: "$MODULE", path: "$MODULE.xcframework"),
        .target(
            name: "SetlinkFFI",
            dependencies: ["$MODULE"],
            path: "Sources/SetlinkFFI"
        ),
    ]
)
SWIFT
echo "$PKG"
