#![no_main]
use libfuzzer_sys::fuzz_target;
use setlink_core::rules::cost::{check_chunks_cost, CostLimits};

// Small limits keep every input cheap (the guard inflates at most the byte limit plus its
// 16 KiB buffer); whatever it accepts must be within them.
const LIMITS: CostLimits = CostLimits {
    max_decompressed_bytes: 1 << 20,
    max_ops: 10_000,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(cost) = check_chunks_cost(data, &LIMITS) {
        assert!(cost.decompressed_bytes <= LIMITS.max_decompressed_bytes);
        assert!(cost.ops <= LIMITS.max_ops);
    }
});
