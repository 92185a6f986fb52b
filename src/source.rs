//! Source files and positions in them.
//!
//! Every stage after loading refers back to what the user wrote through a [`Span`]
//! (line and column, 1-based, in characters) so that a late error can still point at
//! `playbook.yaml:12:5`. Positions are kept apart from the errors that use them.

use std::fmt;
use std::path::{Path, PathBuf};

/// A position in a source file: 1-based line and 1-based column, counted in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    pub fn new(line: usize, col: usize) -> Self {
        Self { line, col }
    }
}

/// A range in a source file. `end` is exclusive; an empty span marks a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: Pos,
    pub end: Pos,
}

impl Span {
    pub fn new(start: Pos, end: Pos) -> Self {
        Self { start, end }
    }

    pub fn point(pos: Pos) -> Self {
        Self { start: pos, end: pos }
    }
}

/// A file the user gave us, with its text and the name to show in messages.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as the user spelled it, so messages match what they typed.
    pub path: PathBuf,
    pub text: String,
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        Self { path: path.into(), text: text.into() }
    }

    pub fn display_path(&self) -> DisplayPath<'_> {
        DisplayPath(&self.path)
    }

    /// The text of 1-based line `line`, without its line break.
    pub fn line(&self, line: usize) -> Option<&str> {
        lines(&self.text).nth(line.checked_sub(1)?)
    }
}

/// The lines of `text` as YAML counts them (and so every position we report): a line ends
/// at `\r\n`, `\n` or a lone `\r`. Text ending in a break has an empty last line, so the
/// position just past the end is a line too.
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.find(['\n', '\r']) {
            Some(at) => {
                let width = if current[at..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&current[at + width..]);
                Some(&current[..at])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// The position just after `text` (1-based line and column, in characters).
pub fn end_of(text: &str) -> Pos {
    let (count, last) = lines(text).fold((0, ""), |(n, _), line| (n + 1, line));
    Pos::new(count, last.chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::{Pos, end_of, lines};

    #[test]
    fn every_line_break_yaml_knows_ends_a_line() {
        assert_eq!(lines("a\nb\r\nc\rd").collect::<Vec<_>>(), ["a", "b", "c", "d"]);
        assert_eq!(lines("a\n").collect::<Vec<_>>(), ["a", ""]);
        assert_eq!(lines("").collect::<Vec<_>>(), [""]);
        assert_eq!(lines("\r\r\n").collect::<Vec<_>>(), ["", "", ""]);
        assert_eq!(end_of("ab\ré"), Pos::new(2, 2));
        assert_eq!(end_of(""), Pos::new(1, 1));
    }
}

/// Shows a path the way the user typed it.
#[derive(Debug, Clone, Copy)]
pub struct DisplayPath<'a>(pub &'a Path);

impl fmt::Display for DisplayPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.display())
    }
}
