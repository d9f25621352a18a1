#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dogpile_fuzz::keys(data));
