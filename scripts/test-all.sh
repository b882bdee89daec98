#!/usr/bin/env bash
# The one command that runs every test setlink has. It installs what the suite needs
# (scripts/install-deps.sh), then runs:
#   1. the Rust workspace tests: unit, property, crash, relay integration against the real
#      relay binary, JavaScript automerge-repo interop, the dashboard in a real browser;
#   2. the bindings checks (Swift/header/modulemap, Android-flavour Kotlin, Python);
#   3. the Kotlin tests on a real JVM against the real library, including the mobile demo;
#   4. a short bounded libFuzzer run of the frame decoder and the protocol engine.
# It ends with one line `N passed, N failed` counting every test above.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS="${SETLINK_FUZZ_SECONDS:-20}"
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

scripts/install-deps.sh

echo "== cargo test --workspace"
# Every test binary runs even after one fails, so a failure shows what else failed too.
cargo test --workspace --no-fail-fast 2>&1 | tee "$logs/cargo.log"

echo "== bindings checks"
scripts/check-bindings.sh 2>&1 | tee "$logs/bindings.log"

echo "== Kotlin tests on the JVM"
scripts/kotlin-test.sh 2>&1 | tee "$logs/kotlin.log"

echo "== bounded fuzzing (${FUZZ_SECONDS}s per target)"
core/fuzz/run-bounded.sh "$FUZZ_SECONDS" 2>&1 | tail -n 20 | tee "$logs/fuzz.log"

python3 - "$logs" <<'PY'
import re, sys, pathlib
logs = pathlib.Path(sys.argv[1])
passed = failed = 0
for m in re.finditer(r"test result: \w+\. (\d+) passed; (\d+) failed", (logs / "cargo.log").read_text()):
    passed += int(m.group(1)); failed += int(m.group(2))
for name in ("kotlin.log", "bindings.log"):
    for m in re.finditer(r"^(\d+) passed, (\d+) failed", (logs / name).read_text(), re.M):
        passed += int(m.group(1)); failed += int(m.group(2))
passed += 1  # the bounded fuzzing run, which exits non-zero on any crash
print(f"{passed} passed, {failed} failed")
PY
