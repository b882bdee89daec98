#!/bin/sh
# Installs what the dashboard's browser test needs, idempotently: Debian's chromium and
# poppler-utils (pdftotext), and playwright-core from npm (no browser download: we drive
# the system chromium). Safe to run again; does nothing when everything is there.
set -eu
cd "$(dirname "$0")"
need=""
[ -x /usr/bin/chromium ] || need="$need chromium"
command -v pdftotext >/dev/null 2>&1 || need="$need poppler-utils"
if [ -n "$need" ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
if [ ! -d node_modules/playwright-core ]; then
  if [ -f package-lock.json ]; then npm ci --silent --no-audit --no-fund; else npm install --silent --no-audit --no-fund; fi
fi
