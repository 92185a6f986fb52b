//! The exit codes SPEC section 2 promises, in one place.

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything succeeded.
    Success = 0,
    /// The run finished with failures.
    Failures = 1,
    /// The playbook or the command line is invalid; nothing was sent.
    Invalid = 2,
    /// Another run of the same playbook holds the lock.
    Locked = 3,
    /// AWS configuration or credentials are missing or wrong.
    AwsConfig = 4,
    /// Stopped by SIGINT after a clean drain.
    Interrupted = 130,
    /// Stopped by SIGTERM after a clean drain.
    Terminated = 143,
}

impl Exit {
    /// `other` when this is a success, else this: a later problem must not hide a run's
    /// own failure, nor turn a success into one silently.
    pub fn max_severity(self, other: Exit) -> Exit {
        if self == Exit::Success { other } else { self }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}
