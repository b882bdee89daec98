#!/usr/bin/env bash
# Packages setlink for Android as a Gradle library module (and its .aar when Gradle is
# available):
#   - native libraries for each ABI, built with cargo-ndk into src/main/jniLibs/<abi>/
#   - the Android flavour of the Kotlin bindings (uniffi `android = true`: Android's
#     cleaner, @RequiresApi) in src/main/kotlin/
#   - build.gradle.kts depending on JNA's Android aar, kotlinx-coroutines-android and
#     androidx.annotation, with consumer ProGuard rules that keep JNA and the bindings.
#
#   scripts/android.sh [--sources-only] [OUT]        (OUT defaults to bindings/out/android)
#
# Needs: rustup, the Android NDK (ANDROID_NDK_HOME, or ANDROID_HOME/ndk/<version>),
# cargo-ndk (installed with `cargo install cargo-ndk` if missing). Optional: gradle (or
# SETLINK_GRADLE=/path/to/gradlew) to assemble the .aar.
# Settings: SETLINK_ANDROID_ABIS (default "arm64-v8a armeabi-v7a x86_64"),
# SETLINK_ANDROID_API (minSdk and NDK platform, default 24).
# --sources-only writes the module and the Kotlin sources but builds no native code
# (what scripts/check-bindings.sh checks on machines without the NDK).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SOURCES_ONLY=0
if [ "${1:-}" = "--sources-only" ]; then SOURCES_ONLY=1; shift; fi
OUT="${1:-$ROOT/bindings/out/android}"
ABIS="${SETLINK_ANDROID_ABIS:-arm64-v8a armeabi-v7a x86_64}"
API="${SETLINK_ANDROID_API:-24}"
JNA_VERSION="5.17.0"
COROUTINES_VERSION="1.10.2"
MOD="$OUT/setlink"

rust_target() {
  case "$1" in
    arm64-v8a) echo aarch64-linux-android ;;
    armeabi-v7a) echo armv7-linux-androideabi ;;
    x86_64) echo x86_64-linux-android ;;
    x86) echo i686-linux-android ;;
    *) echo "unknown Android ABI: $1" >&2; return 1 ;;
  esac
}

rm -rf "$MOD"
mkdir -p "$MOD/src/main/kotlin" "$MOD/src/main/jniLibs"

if [ "$SOURCES_ONLY" = 0 ]; then
  if [ -z "${ANDROID_NDK_HOME:-}" ] && [ -n "${ANDROID_HOME:-}" ] && [ -d "$ANDROID_HOME/ndk" ]; then
    ANDROID_NDK_HOME="$(ls -d "$ANDROID_HOME"/ndk/* | sort -V | tail -n1)"
    export ANDROID_NDK_HOME
  fi
  : "${ANDROID_NDK_HOME:?set ANDROID_NDK_HOME to the Android NDK (e.g. \$ANDROID_HOME/ndk/27.2.12479018)}"
  command -v cargo-ndk >/dev/null || cargo install cargo-ndk --locked
  ndk_args=()
  for abi in $ABIS; do
    rustup target add "$(rust_target "$abi")"
    ndk_args+=(-t "$abi")
  done
  cargo ndk --platform "$API" "${ndk_args[@]}" -o "$MOD/src/main/jniLibs" \
    build --release -p setlink-ffi --lib
fi

# The bindings come from the host build: the uniffi metadata is the same for every target.
# SETLINK_HOST_LIB names an already built host library to read it from instead.
HOST_LIB="${SETLINK_HOST_LIB:-}"
if [ -z "$HOST_LIB" ]; then
  cargo build --release -p setlink-ffi --lib >&2
  HOST_LIB="$ROOT/target/release/libsetlink_ffi.so"
  [ -f "$HOST_LIB" ] || HOST_LIB="$ROOT/target/release/libsetlink_ffi.dylib"
fi
"$ROOT/scripts/gen-bindings.sh" "$HOST_LIB" "$OUT/generated" >/dev/null
cp -R "$OUT/generated/kotlin-android/." "$MOD/src/main/kotlin/"

cat > "$OUT/settings.gradle.kts" <<GRADLE
pluginManagement {
    repositories { google(); mavenCentral(); gradlePluginPortal() }
}
dependencyResolutionManagement {
    repositories { google(); mavenCentral() }
}
rootProject.name = "setlink-android"
include(":setlink")
GRADLE

cat > "$OUT/build.gradle.kts" <<GRADLE
plugins {
    id("com.android.library") version "8.7.3" apply false
    id("org.jetbrains.kotlin.android") version "2.1.20" apply false
}
GRADLE

cat > "$MOD/build.gradle.kts" <<GRADLE
plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "dev.setlink.ffi"
    compileSdk = 35
    defaultConfig {
        minSdk = $API
        consumerProguardFiles("consumer-rules.pro")
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    sourceSets["main"].jniLibs.srcDirs("src/main/jniLibs")
}

kotlin { jvmToolchain(17) }

dependencies {
    // JNA's Android build ships libjnidispatch for every ABI inside the aar.
    api("net.java.dev.jna:jna:$JNA_VERSION@aar")
    api("org.jetbrains.kotlinx:kotlinx-coroutines-android:$COROUTINES_VERSION")
    implementation("androidx.annotation:annotation:1.9.1")
}
GRADLE

cat > "$MOD/consumer-rules.pro" <<'PRO'
# JNA finds native methods and structures by reflection; the bindings are called from it.
-keep class com.sun.jna.** { *; }
-keep class * implements com.sun.jna.** { *; }
-keep class dev.setlink.ffi.** { *; }
-dontwarn java.awt.**
PRO

mkdir -p "$MOD/src/main"
cat > "$MOD/src/main/AndroidManifest.xml" <<'XML'
<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android">
    <!-- Relay sync and redeeming invites need the network. -->
    <uses-permission android:name="android.permission.INTERNET" />
</manifest>
XML

if [ "$SOURCES_ONLY" = 0 ]; then
  GRADLE="${SETLINK_GRADLE:-$(command -v gradle || true)}"
  if [ -n "$GRADLE" ]; then
    (cd "$OUT" && "$GRADLE" :setlink:assembleRelease)
    echo "aar: $MOD/build/outputs/aar/setlink-release.aar"
  else
    echo "gradle not found: open $OUT in Android Studio or run gradle :setlink:assembleRelease there" >&2
  fi
fi
echo "$MOD"
