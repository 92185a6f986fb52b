//! Fuzz target `emulator`: see `handoff::fuzz::emulator` for what it feeds and what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| handoff::fuzz::emulator(data));
