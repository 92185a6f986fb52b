//! Fuzz target `archive`: see `handoff::fuzz::archive` for what it feeds and what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| handoff::fuzz::archive(data));
