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

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}
