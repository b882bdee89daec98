#!/usr/bin/env bash
# A short, bounded libFuzzer run of each target, for the test suite:
#   core/fuzz/run-bounded.sh [SECONDS_PER_TARGET]   (default 30)
# Needs a nightly toolchain and cargo-fuzz (installed here if missing). Seeds the corpus
# with the frames captured from the real JS implementation. Exits non-zero on a crash,
# leaving the reproducer in core/fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-30}"

if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

python3 - <<'PY'
import json, os, hashlib
frames = json.load(open("../tests/fixtures/wire/captured.json"))["frames"]
for target in ("wire_decode", "engine_frames", "chunk_cost"):
    os.makedirs(f"corpus/{target}", exist_ok=True)
for f in frames:
    b = bytes.fromhex(f["hex"])
    name = hashlib.sha1(b).hexdigest()
    open(f"corpus/wire_decode/{name}", "wb").write(b)
    # engine_frames input: a mode byte (1 = send a valid join first), then u16-LE length-prefixed frames.
    open(f"corpus/engine_frames/{name}", "wb").write(bytes([1]) + len(b).to_bytes(2, "little") + b)
    # chunk_cost input: the Automerge chunks a frame carries (and whatever CBOR follows them).
    at = b.find(bytes([0x85, 0x6F, 0x4A, 0x83]))
    if at >= 0:
        open(f"corpus/chunk_cost/{name}", "wb").write(b[at:])
PY

for target in wire_decode engine_frames chunk_cost write_rules; do
  echo "fuzzing $target for ${secs}s"
  # -O: release without debug assertions (the stable smoke test in core/tests covers
  # overflow checks); it also reuses a `cargo fuzz build -O`.
  cargo +nightly fuzz run -O "$target" -- -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536
done
