//! A bounded, seeded run of the write-rules fuzz harness (core/fuzz/rules_harness.rs) on
//! stable. The open-ended run is `cargo +nightly fuzz run write_rules` in core/fuzz.

#[path = "../fuzz/rules_harness.rs"]
mod rules_harness;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Inputs the fuzzer once found, kept so they stay fixed.
#[test]
fn inputs_the_fuzzer_found_stay_fixed() {
    // A scalar string inserted into a run's `comments` was accepted, and the run then
    // failed to read.
    rules_harness::run(&[0x97, 0x26, 0x21, 0x09]);
}

#[test]
fn random_edits_never_panic_the_rules_and_accepted_runs_read() {
    let mut rng = StdRng::seed_from_u64(0x5e7_1e4);
    for _ in 0..400 {
        let len = rng.random_range(0..96);
        let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        rules_harness::run(&data);
    }
}
