//! The fuzz corpus and every crash the fuzzers found, run through the targets' bodies
//! (`handoff::fuzz`) in the ordinary test build: a fixed crash stays fixed, and the
//! targets stay working between campaigns. `scripts/fuzz` does the fuzzing itself.

use std::path::Path;

/// Runs every file of `fuzz/<dir>/<target>/` through its target; returns how many ran.
fn replay(dir: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(dir);
    let mut count = 0;
    for (name, target) in handoff::fuzz::TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(name)) else { continue };
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "fuzz target {name} failed on {}", path.display());
            count += 1;
        }
    }
    count
}

#[test]
fn the_seed_corpus_passes_every_target() {
    let count = replay("corpus");
    // Every target has seeds (fuzz/seeds.py writes them).
    for (name, _) in handoff::fuzz::TARGETS {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(name);
        assert!(std::fs::read_dir(&dir).is_ok_and(|d| d.count() > 0), "no seeds in {}", dir.display());
    }
    assert!(count >= 100, "only {count} seeds");
}

#[test]
fn every_crash_the_fuzzers_found_stays_fixed() {
    replay("regressions");
}
