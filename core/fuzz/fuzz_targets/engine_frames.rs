#![no_main]
use libfuzzer_sys::fuzz_target;

include!("../harness.rs");

fuzz_target!(|data: &[u8]| {
    drive_acceptor(data);
    drive_initiator(data);
});
