//! Arbitrary bytes as a capture file: see src/reader_input.rs for the invariants checked.

#![no_main]

use libfuzzer_sys::fuzz_target;

// The outcome is for the regression test (tests/fuzz_regressions.rs); here only the checks run.
#[allow(dead_code)]
#[path = "../src/reader_input.rs"]
mod reader_input;

fuzz_target!(|data: &[u8]| {
    reader_input::check(data);
});
