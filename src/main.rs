//! The `handoff` binary: everything happens in [`handoff::commands::run`].

/// mimalloc, not glibc's malloc: every call allocates many small, short-lived buffers (the
/// request, its signature, JSON, templates, events) on several threads, and glibc's allocator
/// was a sixth of a bulk run's CPU. Counted by callgrind: 648k -> 531k instructions per accept
/// (docs/benchmarks-scale.md). The library and its tests keep the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    handoff::commands::run().into()
}
