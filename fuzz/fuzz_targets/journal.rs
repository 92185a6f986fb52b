//! Fuzz target `journal`: see `handoff::fuzz::journal` for what it feeds and what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| handoff::fuzz::journal(data));
