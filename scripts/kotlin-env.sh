#!/usr/bin/env bash
# Installs what the Kotlin side needs, idempotently, and prints shell exports for it:
#   eval "$(scripts/kotlin-env.sh)"
# kotlinc comes from the npm package `kotlin-compiler` (installed project-locally),
# JNA and JUnit 4 (+ hamcrest) from Debian. Progress goes to stderr so stdout stays evaluable.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${SETLINK_KOTLIN_TOOLS:-$ROOT/bindings/kotlin-tests/.tools}"
KOTLIN_VERSION="${KOTLIN_COMPILER_VERSION:-2.2.21}"

log() { echo "kotlin-env: $*" >&2; }

have_java_jars() {
  [ -f /usr/share/java/jna.jar ] && [ -f /usr/share/java/junit4.jar ] && [ -f /usr/share/java/hamcrest-core.jar ]
}

if ! have_java_jars; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  log "installing libjna-java junit4 from Debian"
  if ! $SUDO apt-get install -y --no-install-recommends libjna-java junit4 >&2 2>/dev/null; then
    $SUDO apt-get update >&2
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libjna-java junit4 >&2
  fi
fi
have_java_jars || { log "JNA/JUnit jars still missing under /usr/share/java"; exit 1; }

find_kotlinc() {
  find "$TOOLS/node_modules/kotlin-compiler" -type f -path '*/bin/kotlinc' 2>/dev/null | head -n1
}
KOTLINC="$(find_kotlinc || true)"
if [ -z "$KOTLINC" ]; then
  log "installing kotlin-compiler@$KOTLIN_VERSION from npm into $TOOLS"
  mkdir -p "$TOOLS"
  [ -f "$TOOLS/package.json" ] || echo '{"name":"setlink-kotlin-tools","private":true}' > "$TOOLS/package.json"
  (cd "$TOOLS" && npm install --no-audit --no-fund --loglevel=error "kotlin-compiler@$KOTLIN_VERSION" >&2)
  KOTLINC="$(find_kotlinc || true)"
fi
[ -n "$KOTLINC" ] || { log "kotlinc not found after npm install"; exit 1; }
chmod +x "$(dirname "$KOTLINC")"/* 2>/dev/null || true
KOTLIN_HOME="$(cd "$(dirname "$KOTLINC")/.." && pwd)"

echo "export KOTLINC='$KOTLINC'"
echo "export KOTLIN_HOME='$KOTLIN_HOME'"
echo "export KOTLIN_STDLIB='$KOTLIN_HOME/lib/kotlin-stdlib.jar'"
echo "export KOTLINX_COROUTINES='$(ls "$KOTLIN_HOME"/lib/kotlinx-coroutines-core-jvm*.jar 2>/dev/null | head -n1)'"
echo "export JNA_JAR=/usr/share/java/jna.jar"
echo "export JUNIT_JAR=/usr/share/java/junit4.jar"
echo "export HAMCREST_JAR=/usr/share/java/hamcrest-core.jar"
