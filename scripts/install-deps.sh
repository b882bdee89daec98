#!/usr/bin/env bash
# Installs everything the full test suite needs beyond Rust, Python, Node and Java.
# Idempotent: each step checks before it installs, so a second run costs seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian: JNA + JUnit 4 for the Kotlin tests, chromium + poppler-utils for the dashboard's
# browser test and the PDF tests (pdftotext, pdfinfo and pdffonts read the printed call
# sheet back), fonts-droid-fallback for the PDF's CJK fallback font (the relay reads it at
# run time; Latin, Greek and Cyrillic are compiled in), libssl-dev + pkg-config for the
# samod test client (its WebSocket support builds native-tls), postgresql + haproxy for
# several relays on one PostgreSQL behind a load balancer (the tests start their own
# throw-away cluster and haproxy on loopback ports; nothing runs as a service).
apt_packages=(libjna-java junit4 chromium poppler-utils fonts-droid-fallback libssl-dev pkg-config postgresql haproxy)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: Debian packages ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm: each folder keeps its own lock file; `npm ci` only when node_modules is missing or older.
for dir in tests/js tests/browser tests/bench-js; do
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "install-deps: npm ci in $dir"
    # `npm ci` refuses lock files that this npm wrote without cbor-extract's per-platform
    # optional packages; `npm install` then installs the same pinned versions.
    (cd "$dir" && { npm ci --no-audit --no-fund --loglevel=error || npm install --no-audit --no-fund --loglevel=error; })
  fi
done

# aiosmtpd (PyPI) in a project-local venv: the real SMTP server the call-sheet email tests
# start on a loopback port (tests/mail/smtp_server.py).
venv=tests/mail/.venv
if ! "$venv/bin/python" -c "import aiosmtpd" >/dev/null 2>&1; then
  echo "install-deps: aiosmtpd in $venv"
  # Debian's own python3 keeps venv's pip bootstrap in a separate package.
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "aiosmtpd==1.4.6"
fi

# kotlinc (npm `kotlin-compiler`, project-local) and the JVM jars.
scripts/kotlin-env.sh >/dev/null

# cargo-fuzz for the bounded fuzzing run (the nightly toolchain ships with the machine image).
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "install-deps: cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
