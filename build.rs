//! Links the `handoff` binary as a position-dependent executable on Linux.
//!
//! Why: a position-independent `handoff` carries about 60,000 relative relocations (the SDKs'
//! vtables and tables of pointers, 0.9 MB of `.data.rel.ro`), and the dynamic loader writes
//! every one of them at each start: about 250 copy-on-write page faults before `main`. On the
//! 2-core machines here that was half of what `handoff --version` costs (4.0 -> 1.9 ms,
//! `perf stat -r 40`) and 2-3 ms of every `validate` and one-call run
//! (docs/benchmarks-scale.md). Go links its binaries this way by default.
//!
//! The cost: the binary's own code and data are not placed at a random address (ASLR still
//! moves the stack, the heap, mmap and every shared library). Set `HANDOFF_PIE=1` at build
//! time to link a position-independent executable instead.
//!
//! Only the final link changes: every crate is still compiled as position-independent code,
//! and the linker resolves the addresses once, at build time.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=HANDOFF_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let pie = std::env::var_os("HANDOFF_PIE").is_some_and(|v| !v.is_empty() && v != "0");
    if linux && !pie {
        println!("cargo:rustc-link-arg-bin=handoff=-no-pie");
    }
}
