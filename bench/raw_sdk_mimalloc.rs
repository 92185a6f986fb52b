//! `bench/raw_sdk.rs` with handoff's allocator (mimalloc) instead of the system's: the second
//! baseline of `bench/run`. Against `raw_sdk`, handoff's figures include what its allocator
//! saves; against this one, only what handoff's own code costs.
//!
//!   cargo run --profile dist --example raw_sdk_mimalloc -- ENDPOINT IDS_FILE CONCURRENCY

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "raw_sdk.rs"]
mod raw_sdk;

fn main() {
    raw_sdk::main();
}
