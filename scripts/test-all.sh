#!/usr/bin/env bash
# The one command that runs every test setlink has: it installs what the suite needs
# (scripts/install-deps.sh), then runs the Rust workspace tests (unit, property, crash,
# relay integration, JS interop, browser) and the Kotlin tests on a real JVM.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cargo build --workspace --all-targets
cargo test --workspace
