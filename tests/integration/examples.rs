//! Every playbook in `examples/` validates, alone and all together.

use crate::helpers::{Test, crate_dir};

#[test]
fn every_example_validates() {
    let dir = crate_dir().join("examples");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("examples directory")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 4, "examples went missing: {names:?}");
    for name in &names {
        Test::new()
            .current_dir(&dir)
            .args(["validate", name.as_str()])
            .run()
            .code(0)
            .stderr("1 playbook valid\n");
    }
    let all = Test::new().current_dir(&dir).args(["validate"]).args(names.iter().cloned()).run().code(0);
    assert_eq!(all.stderr, format!("{} playbooks valid\n", names.len()));
}
