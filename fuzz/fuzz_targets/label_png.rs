#![no_main]
//! Fuzz target: `weakseg_fuzz::decode_label_png` on arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| weakseg_fuzz::decode_label_png(data));
