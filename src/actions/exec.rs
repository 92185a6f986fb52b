//! `exec`: runs a program for an item, the work a job worker does between acknowledging a job
//! and reporting it. The first action that is not an AWS call; it goes through the same
//! engine (retries, timeout, concurrency, failure budget, journal, events, dry run, masking).
//!
//! Untrusted data never reaches a shell: `command:` is an argv list run directly, each
//! templated value one whole argument; only a `shell:` script the user wrote runs under
//! `sh -c`. The child runs in a process group of its own, so a timeout or a signal ends it
//! and everything it forked: SIGTERM to the group, a grace period, then SIGKILL. Every live
//! group is registered so that handoff's immediate exit (a second signal) kills them first.
//!
//! What the child prints is captured (stdout up to [`STDOUT_CAP`], the last [`STDERR_TAIL`]
//! of stderr) and masked against the run's secrets before anything else sees it; the `env`
//! and `stdin` inputs are secret inputs, never shown, journaled or reported.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::call::{CallError, ErrorClass, Outcome};
use crate::playbook::{DurationSpec, Text, TextList};
use crate::secrets::Masker;

pub const SPEC: super::ActionSpec = super::ActionSpec {
    name: "exec",
    service: None,
    operation: "a program, run directly (or by `sh -c` for `shell:`)",
    output: &["exit_code", "stdout", "stderr", "duration_ms", "stdout_truncated"],
    quota: None,
    secret_inputs: &["env", "stdin"],
    schema: include_str!("../../schemas/actions/exec.schema.json"),
    changes: true,
};

/// The most of stdout kept; the rest is read and dropped (`stdout_truncated` says so).
pub const STDOUT_CAP: usize = 1024 * 1024;
/// How much of the end of stderr is kept.
pub const STDERR_TAIL: usize = 64 * 1024;
/// How much of the end of stderr an error message quotes.
const MESSAGE_TAIL: usize = 2000;
/// How long a child has between SIGTERM and SIGKILL, unless `grace-period` says otherwise.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);
/// The timeout of a run of the program when neither `timeout:` nor the step's says one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);
/// The variables a child inherits from handoff's environment; everything else it gets is
/// what the step passes in `env:` and the two `HANDOFF_*` variables. AWS credentials and
/// other secrets of handoff's own environment are not passed on unless the step says so.
pub const INHERITED_ENV: &[&str] =
    &["PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR"];

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Input {
    /// The program and its arguments, run directly (no shell).
    pub command: Option<TextList<Text>>,
    /// A script for `sh -c`: only when the user writes it.
    pub shell: Option<Text>,
    pub env: Option<BTreeMap<String, Text>>,
    pub cwd: Option<Text>,
    pub stdin: Option<Text>,
    pub timeout: Option<DurationSpec>,
    pub grace_period: Option<DurationSpec>,
    pub success_codes: Option<Vec<i32>>,
    pub output: Option<OutputFormat>,
}

/// How stdout becomes the item's `output.stdout`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputFormat {
    /// The text, without its final newline.
    #[default]
    Text,
    /// One JSON document.
    Json,
    /// A list of the non-empty lines.
    Lines,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Request {
    pub command: Option<Vec<String>>,
    pub shell: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub cwd: Option<String>,
    pub stdin: Option<String>,
    pub timeout: Option<DurationSpec>,
    pub grace_period: Option<DurationSpec>,
    pub success_codes: Option<Vec<i32>>,
    #[serde(default)]
    pub output: OutputFormat,
}

/// The argv a request runs: the command as written, or `sh -c SCRIPT`.
pub fn argv(request: &Request) -> Result<Vec<String>, String> {
    match (&request.command, &request.shell) {
        (Some(command), None) if !command.is_empty() => Ok(command.clone()),
        (Some(_), None) => Err("`command` is an empty list: name a program".into()),
        (None, Some(script)) => Ok(vec!["sh".into(), "-c".into(), script.clone()]),
        (Some(_), Some(_)) => Err("give `command` or `shell`, not both".into()),
        (None, None) => Err("give `command` (a list: the program and its arguments) or `shell`".into()),
    }
}

pub async fn call(request: Request, ctx: &super::ActionContext<'_>) -> Outcome {
    let argv = match argv(&request) {
        Ok(argv) => argv,
        Err(message) => return super::invalid(message),
    };
    // What the program prints is masked against the run's secrets (declared, and learned
    // such as artifact credentials), so a secret passed in `env` never shows. Other `env`
    // values are not masked in its output: masking `MODE=deploy` turned "deployed" into
    // "********ed". The `env` and `stdin` inputs themselves are never shown or journaled.
    let masker = ctx.masker;
    let cwd = match &request.cwd {
        Some(cwd) => ctx.item.dir.join(cwd),
        None => ctx.item.dir.to_path_buf(),
    };
    let timeout = request.timeout.map_or(ctx.caller.timeout, |t| t.0);
    let grace = request.grace_period.map_or(DEFAULT_GRACE, |g| g.0);
    let child = Child {
        argv: &argv,
        cwd: &cwd,
        env: &request.env,
        stdin: request.stdin.as_deref(),
        run_id: ctx.item.run_id,
        item_key: ctx.item.key,
        timeout,
        grace,
    };
    let success_codes = request.success_codes.clone().unwrap_or_else(|| vec![0]);
    // The output of the last attempt, also when it failed: later steps read its stderr.
    let last_output = Mutex::new(None);
    // The caller's own timeout is a backstop: the child's timeout is enforced here, where
    // the group can be ended gracefully.
    let backstop = timeout + grace + Duration::from_secs(5);
    let sent = ctx
        .caller
        .send_within(backstop, || async {
            let ran = child.run(ctx.caller).await?;
            let succeeded = matches!(ran.status, Exit::Code(code) if success_codes.contains(&code));
            // A program that failed is reported by its exit, not by what it failed to print:
            // its stdout is parsed when it can be, else kept as text.
            let output = ran.output(request.output, succeeded, masker);
            *last_output.lock().unwrap_or_else(|e| e.into_inner()) = Some(output.clone());
            let output = output?;
            if succeeded { Ok(output) } else { Err(ran.failure(ran.status, masker)) }
        })
        .await;
    match sent {
        Ok(output) => Outcome::Succeeded(output),
        Err(error) => {
            let output = last_output.into_inner().unwrap_or_else(|e| e.into_inner()).and_then(Result::ok);
            Outcome::Failed { error, output }
        }
    }
}

/// One program to run, with everything it is given.
struct Child<'a> {
    argv: &'a [String],
    cwd: &'a Path,
    env: &'a BTreeMap<String, String>,
    stdin: Option<&'a str>,
    run_id: &'a str,
    item_key: &'a str,
    timeout: Duration,
    grace: Duration,
}

/// How the program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    Code(i32),
    Signal(i32),
}

/// What one run of the program left.
struct Ran {
    status: Exit,
    stdout: Captured,
    stderr: Captured,
    elapsed: Duration,
}

impl Child<'_> {
    async fn run(&self, caller: &crate::call::Caller<'_>) -> Result<Ran, CallError> {
        let program = resolve_program(&self.argv[0], self.cwd);
        let mut command = tokio::process::Command::new(&program);
        command
            .args(&self.argv[1..])
            .current_dir(self.cwd)
            .env_clear()
            .envs(INHERITED_ENV.iter().filter_map(|name| Some((*name, std::env::var_os(name)?))))
            .envs(std::env::vars_os().filter(|(name, _)| name.to_string_lossy().starts_with("LC_")))
            .envs(self.env)
            .env("HANDOFF_RUN_ID", self.run_id)
            .env("HANDOFF_ITEM_KEY", self.item_key)
            .stdin(if self.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A group of its own: signals to the group reach everything the program forks,
            // and a Ctrl-C on handoff's terminal reaches handoff alone, which then drains.
            .process_group(0);
        if !self.cwd.is_dir() {
            return Err(spawn_error(
                &self.argv[0],
                format!("the working directory {} does not exist", self.cwd.display()),
            ));
        }
        let started = Instant::now();
        let mut child = command.spawn().map_err(|e| spawn_error(&self.argv[0], e.to_string()))?;
        let group = Group::register(child.id());
        if let (Some(text), Some(mut pipe)) = (self.stdin, child.stdin.take()) {
            let text = text.to_string();
            // A child that does not read its input must not block us: write in a task, and
            // a closed pipe is the child's business.
            tokio::spawn(async move {
                let _ = pipe.write_all(text.as_bytes()).await;
            });
        }
        let stdout = tokio::spawn(capture(child.stdout.take(), Keep::Head(STDOUT_CAP)));
        let stderr = tokio::spawn(capture(child.stderr.take(), Keep::Tail(STDERR_TAIL)));
        let (ended, status) = tokio::select! {
            status = child.wait() => (Ended::Exited, Some(status)),
            () = tokio::time::sleep(self.timeout) => (Ended::TimedOut, None),
            () = caller.stopped() => (Ended::Stopped, None),
        };
        let status = match status {
            Some(status) => status,
            None => group.terminate(&mut child, self.grace).await,
        };
        // Whatever the program left running in its group (a background job) ends with it;
        // that also closes the pipes the readers wait on.
        group.kill();
        let stdout = stdout.await.unwrap_or_default();
        let stderr = stderr.await.unwrap_or_default();
        let elapsed = started.elapsed();
        match ended {
            Ended::TimedOut => {
                return Err(CallError {
                    message: format!(
                        "`{}` ran longer than {}; its process group was ended",
                        self.argv[0],
                        humantime::format_duration(self.timeout)
                    ),
                    ambiguous: false,
                    ..CallError::timeout(self.timeout)
                });
            }
            Ended::Stopped => return Err(CallError::stopped()),
            Ended::Exited => {}
        }
        let status = status.map_err(|e| spawn_error(&self.argv[0], format!("waiting for it failed: {e}")))?;
        let status = match (status.code(), std::os::unix::process::ExitStatusExt::signal(&status)) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            (None, None) => Exit::Code(-1),
        };
        Ok(Ran { status, stdout, stderr, elapsed })
    }
}

/// Why the wait for the program ended.
enum Ended {
    Exited,
    TimedOut,
    Stopped,
}

/// A relative program path with a slash is relative to the working directory (the
/// playbook's folder by default), not to wherever handoff was started; a bare name is
/// looked up in PATH.
fn resolve_program(program: &str, cwd: &Path) -> PathBuf {
    let path = Path::new(program);
    if path.is_relative() && program.contains('/') { cwd.join(path) } else { path.to_path_buf() }
}

fn spawn_error(program: &str, message: String) -> CallError {
    CallError::client("SpawnFailed", format!("cannot run `{program}`: {message}"))
}

impl Ran {
    /// The item's output: the exit code, stdout parsed as asked, the stderr tail, masked.
    /// `strict`: stdout that does not parse is an error (else it is kept as text).
    fn output(&self, format: OutputFormat, strict: bool, masker: &Masker) -> Result<Value, CallError> {
        let text = masker.mask(&self.stdout.text());
        let stdout = match format {
            OutputFormat::Text => Value::String(text.strip_suffix('\n').unwrap_or(&text).to_string()),
            OutputFormat::Lines => {
                Value::Array(text.lines().filter(|l| !l.trim().is_empty()).map(|l| json!(l)).collect())
            }
            OutputFormat::Json if !strict => {
                serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()))
            }
            OutputFormat::Json if self.stdout.truncated => {
                return Err(CallError::client(
                    "InvalidOutput",
                    format!("stdout is longer than {STDOUT_CAP} bytes, too long to parse as JSON"),
                ));
            }
            OutputFormat::Json => serde_json::from_str(&text).map_err(|e| {
                CallError::client("InvalidOutput", format!("stdout is not JSON ({e}): {}", excerpt(&text)))
            })?,
        };
        let (code, signal) = match self.status {
            Exit::Code(code) => (json!(code), Value::Null),
            Exit::Signal(signal) => (Value::Null, json!(signal_name(signal))),
        };
        let mut output = json!({
            "exit_code": code,
            "stdout": stdout,
            "stderr": masker.mask(&self.stderr.text()),
            "duration_ms": self.elapsed.as_millis() as u64,
            "stdout_truncated": self.stdout.truncated,
        });
        if !signal.is_null() {
            output["signal"] = signal;
        }
        Ok(output)
    }

    /// An exit the step does not count as success: class `exit-code`, code `exit-code:N`
    /// (or `signal:NAME`) so `retry.on` can name the class or one code.
    fn failure(&self, status: Exit, masker: &Masker) -> CallError {
        let (code, what) = match status {
            Exit::Code(code) => (format!("exit-code:{code}"), format!("exited with code {code}")),
            Exit::Signal(signal) => {
                (format!("signal:{}", signal_name(signal)), format!("was killed by {}", signal_name(signal)))
            }
        };
        let stderr = masker.mask(&self.stderr.text());
        let tail = tail_chars(stderr.trim_end(), MESSAGE_TAIL);
        let message = if tail.is_empty() {
            format!("the program {what}")
        } else {
            format!("the program {what}: {tail}")
        };
        CallError { code: Some(code), ..CallError::new(ErrorClass::ExitCode, message) }
    }
}

fn signal_name(signal: i32) -> String {
    Signal::try_from(signal).map_or_else(|_| format!("signal {signal}"), |s| s.as_str().to_string())
}

/// The last `max` characters of a text (whole characters).
fn tail_chars(text: &str, max: usize) -> &str {
    let count = text.chars().count();
    if count <= max {
        return text;
    }
    let skip = text.char_indices().nth(count - max).map_or(0, |(i, _)| i);
    &text[skip..]
}

fn excerpt(text: &str) -> String {
    let short: String = text.chars().take(200).collect();
    if short.len() < text.len() { format!("{short}...") } else { short }
}

/// Which part of a stream to keep.
#[derive(Debug, Clone, Copy)]
enum Keep {
    Head(usize),
    Tail(usize),
}

/// A captured stream: bytes kept and whether some were dropped.
#[derive(Debug, Default)]
struct Captured {
    bytes: Vec<u8>,
    truncated: bool,
}

impl Captured {
    /// Invalid UTF-8 (a binary printed by mistake) becomes replacement characters, not an
    /// error: the item still reports what happened.
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Reads a pipe to its end, keeping at most `keep`; the rest is read and dropped so the
/// child never blocks on a full pipe.
async fn capture<R: AsyncRead + Unpin>(pipe: Option<R>, keep: Keep) -> Captured {
    let mut captured = Captured::default();
    let Some(mut pipe) = pipe else { return captured };
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match pipe.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        captured.bytes.extend_from_slice(&buffer[..n]);
        match keep {
            Keep::Head(max) if captured.bytes.len() > max => {
                captured.bytes.truncate(max);
                captured.truncated = true;
            }
            Keep::Tail(max) if captured.bytes.len() > 2 * max => {
                let cut = captured.bytes.len() - max;
                captured.bytes.drain(..cut);
                captured.truncated = true;
            }
            _ => {}
        }
    }
    if let Keep::Tail(max) = keep
        && captured.bytes.len() > max
    {
        let cut = captured.bytes.len() - max;
        captured.bytes.drain(..cut);
        captured.truncated = true;
    }
    captured
}

/// The process groups of the children running now, so that an immediate exit can end them.
static LIVE_GROUPS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// A child's process group, registered while it may be alive; ended (SIGKILL) when dropped,
/// so an attempt abandoned for any reason leaves nothing running.
struct Group {
    pgid: Option<i32>,
}

impl Group {
    fn register(pid: Option<u32>) -> Self {
        let pgid = pid.and_then(|p| i32::try_from(p).ok());
        if let Some(pgid) = pgid {
            LIVE_GROUPS.lock().unwrap_or_else(|e| e.into_inner()).insert(pgid);
        }
        Self { pgid }
    }

    fn signal(&self, signal: Signal) {
        if let Some(pgid) = self.pgid {
            // ESRCH (the group is gone) is what we want.
            let _ = killpg(Pid::from_raw(pgid), signal);
        }
    }

    /// SIGTERM to the group, up to `grace` for the program to exit, then SIGKILL.
    async fn terminate(
        &self,
        child: &mut tokio::process::Child,
        grace: Duration,
    ) -> std::io::Result<std::process::ExitStatus> {
        self.signal(Signal::SIGTERM);
        match tokio::time::timeout(grace, child.wait()).await {
            Ok(status) => status,
            Err(_) => {
                self.signal(Signal::SIGKILL);
                child.wait().await
            }
        }
    }

    fn kill(&self) {
        self.signal(Signal::SIGKILL);
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
        if let Some(pgid) = self.pgid {
            LIVE_GROUPS.lock().unwrap_or_else(|e| e.into_inner()).remove(&pgid);
        }
    }
}

/// Ends every child process group still running (SIGKILL): for an exit that cannot wait
/// for the usual drain (a second SIGINT or SIGTERM).
pub fn kill_all_children() {
    let groups = LIVE_GROUPS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for pgid in groups {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::{Keep, Request, argv, capture, tail_chars};

    fn request(command: Option<Vec<&str>>, shell: Option<&str>) -> Request {
        Request {
            command: command.map(|c| c.into_iter().map(str::to_string).collect()),
            shell: shell.map(str::to_string),
            env: Default::default(),
            cwd: None,
            stdin: None,
            timeout: None,
            grace_period: None,
            success_codes: None,
            output: Default::default(),
        }
    }

    #[test]
    fn a_command_runs_as_written_and_only_shell_uses_sh() {
        let hostile = "x\"; touch /tmp/pwned; echo \"";
        assert_eq!(argv(&request(Some(vec!["echo", hostile]), None)).unwrap(), vec!["echo", hostile]);
        assert_eq!(argv(&request(None, Some("echo hi"))).unwrap(), vec!["sh", "-c", "echo hi"]);
        assert!(argv(&request(Some(vec![]), None)).is_err());
        assert!(argv(&request(None, None)).is_err());
    }

    #[tokio::test]
    async fn capture_keeps_the_head_of_stdout_and_the_tail_of_stderr() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let head = capture(Some(&data[..]), Keep::Head(1000)).await;
        assert_eq!((head.bytes.as_slice(), head.truncated), (&data[..1000], true));
        let tail = capture(Some(&data[..]), Keep::Tail(1000)).await;
        assert_eq!((tail.bytes.as_slice(), tail.truncated), (&data[data.len() - 1000..], true));
        let small = capture(Some(&b"ok"[..]), Keep::Tail(1000)).await;
        assert_eq!((small.bytes.as_slice(), small.truncated), (&b"ok"[..], false));
    }

    #[test]
    fn tails_cut_on_character_boundaries() {
        assert_eq!(tail_chars("héllo wörld", 5), "wörld");
        assert_eq!(tail_chars("ab", 5), "ab");
    }
}
