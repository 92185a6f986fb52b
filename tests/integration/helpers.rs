//! A small builder for running `handoff` in a temporary directory and checking everything it
//! prints, in the spirit of just's `tests/test.rs`.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use pretty_assertions::assert_eq;
use tempfile::TempDir;

/// The directory of this crate, for fixtures and examples.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What one run printed and how it ended.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// A `handoff` invocation: files to write, arguments, and the directory it runs in.
#[derive(Debug)]
pub struct Test {
    dir: TempDir,
    args: Vec<String>,
    cwd: Option<PathBuf>,
}

impl Test {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
            args: vec!["--color".into(), "never".into()],
            cwd: None,
        }
    }

    /// Writes `contents` to `name` inside the test's directory.
    pub fn file(self, name: &str, contents: impl AsRef<[u8]>) -> Self {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent directory");
        }
        std::fs::write(path, contents).expect("write test file");
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Runs in `dir` instead of the temporary directory.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    pub fn run(self) -> Output {
        let mut command = Command::cargo_bin("handoff").expect("the handoff binary is built");
        command
            .args(&self.args)
            .current_dir(self.cwd.as_deref().unwrap_or(self.dir.path()))
            .env_remove("NO_COLOR")
            .timeout(std::time::Duration::from_secs(60));
        let output = command.output().expect("handoff runs");
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Output {
    pub fn code(self, code: i32) -> Self {
        assert_eq!(self.code, code, "exit code; stderr:\n{}\nstdout:\n{}", self.stderr, self.stdout);
        self
    }

    pub fn stderr(self, expected: &str) -> Self {
        assert_eq!(self.stderr, expected);
        self
    }

    pub fn stdout(self, expected: &str) -> Self {
        assert_eq!(self.stdout, expected);
        self
    }
}
