//! Hostile YAML: each case ends in a clear error (exit 2), never a panic, a stack overflow
//! or an exhausted memory. The 60-second timeout of every run bounds the time.

use crate::helpers::Test;

fn validate(name: &str, contents: impl AsRef<[u8]>) -> crate::helpers::Output {
    let output = Test::new().file(name, contents).args(["validate", name]).run().code(2);
    assert!(!output.stderr.contains("panicked"), "{}", output.stderr);
    output
}

#[test]
fn billion_laughs_stops_at_the_alias_budget() {
    let mut text =
        String::from("version: 1\nname: lol\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 9].join(", ");
        text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    let output = validate("bomb.yaml", text);
    assert!(
        output.stderr.contains("bomb.yaml:8:10: error: aliases expand to more than 100000 values"),
        "{}",
        output.stderr
    );
}

#[test]
fn ten_thousand_levels_of_flow_nesting() {
    let text = format!("steps: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    let output = validate("deep.yaml", text);
    assert!(output.stderr.contains("deep.yaml:1:"), "{}", output.stderr);
    assert!(output.stderr.contains("error: nesting is deeper than 64 levels"), "{}", output.stderr);
}

#[test]
fn ten_thousand_levels_of_block_nesting() {
    let text = format!("{}x\n", "- ".repeat(10_000));
    let output = validate("deep.yaml", text);
    assert!(output.stderr.contains("error: nesting is deeper than 64 levels"), "{}", output.stderr);
}

#[test]
fn a_fifty_megabyte_file_is_refused_without_reading_it_all() {
    let line = "# padding padding padding padding padding padding padding padding padding\n";
    let text = line.repeat(50 * 1024 * 1024 / line.len() + 1);
    let output = validate("big.yaml", text);
    assert!(
        output.stderr.starts_with("big.yaml: error: the file is larger than 10 MiB\n"),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains("= found: 50.0 MiB"), "{}", output.stderr);
}

#[test]
fn invalid_utf8_names_the_line_and_column() {
    let output = validate("latin1.yaml", b"version: 1\nname: caf\xe9\n".as_slice());
    assert!(
        output.stderr.starts_with("latin1.yaml:2:10: error: the file is not valid UTF-8\n"),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains("= found: byte 0xe9"), "{}", output.stderr);
}

#[test]
fn duplicate_keys_are_all_reported() {
    let output = validate("dup.yaml", "version: 1\nname: a\nname: b\nversion: 1\nsteps: []\n");
    assert!(output.stderr.contains("dup.yaml:3:1: error: duplicate key `name`"), "{}", output.stderr);
    assert!(output.stderr.contains("dup.yaml:4:1: error: duplicate key `version`"), "{}", output.stderr);
}

#[test]
fn tabs_in_indentation_get_a_hint() {
    let output = validate("tabs.yaml", "version: 1\nsteps:\n\t- id: a\n");
    assert!(output.stderr.contains("tabs.yaml:3:"), "{}", output.stderr);
    assert!(output.stderr.contains("replace the tab with spaces"), "{}", output.stderr);
}

#[test]
fn an_unreadable_path_is_an_error_not_a_crash() {
    let gone = Test::new().args(["validate", "no-such-file.yaml"]).run().code(2);
    assert!(gone.stderr.starts_with("no-such-file.yaml: error: cannot read the file:"), "{}", gone.stderr);
}
