#![no_main]
//! Fuzz target: `weakseg_fuzz::parse_classes` on arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| weakseg_fuzz::parse_classes(data));
