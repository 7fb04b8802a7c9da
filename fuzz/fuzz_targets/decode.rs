//! Arbitrary frames through the decoder: see src/decode_input.rs for the input format
//! and the invariants checked.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../src/decode_input.rs"]
mod decode_input;

fuzz_target!(|data: &[u8]| {
    decode_input::check(data);
});
