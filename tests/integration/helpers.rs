//! A small builder for running `handoff` in a temporary directory and checking everything it
//! prints, in the spirit of just's `tests/test.rs`.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use pretty_assertions::assert_eq;
use tempfile::TempDir;

/// Every action, by the name a step uses.
pub const ACTIONS: [&str; 13] = [
    "exec",
    "acknowledge",
    "report-success",
    "report-failure",
    "poll-jobs",
    "get-job-details",
    "download-artifacts",
    "upload-artifacts",
    "accept-invitation",
    "get-invitation",
    "reject-invitation",
    "list-invitations",
    "wait-for-acceptance",
];

/// `handoff ARGS --format json` (`runs`, `show RUN`) in the test's directory, parsed.
pub fn journal_json(test: &Test, args: &[&str]) -> serde_json::Value {
    let output = test.command().args(args).args(["--format", "json"]).output().expect("handoff runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON")
}

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
    env: Vec<(String, String)>,
}

impl Test {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
            args: vec!["--color".into(), "never".into()],
            cwd: None,
            env: Vec::new(),
        }
    }

    /// Sets an environment variable for the run.
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_string(), value.into()));
        self
    }

    /// The emulator's credentials and region, and nothing else from the machine's AWS setup.
    pub fn aws_env(self, emulator: &EmulatorProcess) -> Self {
        self.env("AWS_ACCESS_KEY_ID", "AKIAHANDOFFEMULATOR1")
            .env("AWS_SECRET_ACCESS_KEY", "handoff-emulator-secret")
            .env("AWS_REGION", "us-east-1")
            .env("HANDOFF_TEST_ENDPOINT", emulator.url.clone())
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
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

    /// The run journal this test's runs share (`HANDOFF_STATE`).
    pub fn journal(&self) -> PathBuf {
        self.dir.path().join("state/journal.sqlite")
    }

    /// The command, ready to run or spawn.
    pub fn command(&self) -> std::process::Command {
        let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("handoff"));
        command
            .args(&self.args)
            .current_dir(self.cwd.as_deref().unwrap_or(self.dir.path()))
            .env_remove("NO_COLOR")
            // Tests talk to loopback only: no instance metadata, no profile files.
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent/handoff-test-config")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/handoff-test-credentials")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            // Each test keeps its own journal, never the user's.
            .env_remove("XDG_STATE_HOME")
            .env("HANDOFF_STATE", self.journal());
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }

    pub fn run(self) -> Output {
        let mut command = Command::from_std(self.command());
        command.timeout(std::time::Duration::from_secs(300));
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

/// A `handoff emulator` process on a free port, stopped when dropped.
#[derive(Debug)]
pub struct EmulatorProcess {
    child: std::process::Child,
    pub url: String,
}

impl EmulatorProcess {
    pub fn start(args: &[&str]) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("handoff"))
            .args(["emulator", "--port", "0"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("handoff emulator starts");
        let mut first = String::new();
        let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
        reader.read_line(&mut first).expect("first line");
        // Keep draining what the emulator prints, as a terminal would.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let url =
            first.trim().strip_prefix("listening on ").expect("first line names the address").to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        Self { child, url }
    }

    /// GETs an admin endpoint (`summary`, `state`, `ledger`) as JSON.
    pub fn get(&self, endpoint: &str) -> serde_json::Value {
        use std::io::{Read, Write};
        let address = self.url.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).expect("connect to the emulator");
        write!(stream, "GET /_handoff/{endpoint} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")
            .expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{endpoint} is not JSON ({e}): {body}"))
    }

    pub fn summary(&self) -> serde_json::Value {
        self.get("summary")
    }

    /// The process's peak resident memory so far, in bytes (Linux's VmHWM).
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
