#![no_main]
//! Fuzz target: `weakseg_fuzz::parse_config_toml` on arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| weakseg_fuzz::parse_config_toml(data));
