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
        self.text.split('\n').nth(line.checked_sub(1)?).map(|l| l.strip_suffix('\r').unwrap_or(l))
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
