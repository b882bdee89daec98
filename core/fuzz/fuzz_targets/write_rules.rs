#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../rules_harness.rs"]
mod rules_harness;

fuzz_target!(|data: &[u8]| rules_harness::run(data));
