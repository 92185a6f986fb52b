//! Showing a run as it goes, in the form its reader needs: a live display on a terminal
//! ([`terminal`]), timestamped lines for cron and CI ([`plain`]), JSON lines for tools
//! ([`json`]), or nothing. All of them take the engine's [`Event`](crate::events::Event)s;
//! the terminal and plain forms end with the same summary table ([`summary`]).

use std::io::IsTerminal;
use std::sync::Arc;

use crate::events::Reporter;

pub use deferred::{Deferred, MakeReporter};

mod deferred;
pub mod json;
pub mod plain;
pub mod summary;
pub mod terminal;
#[cfg(test)]
mod test_output;

/// `--progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// The live display when stderr is a terminal, else plain lines.
    Auto,
    /// The live display (bars and spinners).
    Bar,
    /// One timestamped line per event, no escape codes.
    Plain,
    /// JSON lines on stdout (docs/events.md).
    Json,
    /// Nothing but errors.
    None,
}

/// How much to say: `--quiet`, default, `-v`, `-vv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Errors and the summary.
    Quiet,
    /// Steps, failures, periodic progress of long steps, the summary.
    Normal,
    /// Also every retry and every item.
    Verbose,
    /// Also HTTP status, request ids and delays of every attempt.
    Debug,
}

impl Level {
    pub fn from_flags(quiet: bool, verbose: u8) -> Self {
        match (quiet, verbose) {
            (true, _) => Level::Quiet,
            (false, 0) => Level::Normal,
            (false, 1) => Level::Verbose,
            (false, _) => Level::Debug,
        }
    }
}

/// The reporter `--progress` asks for. `color` is the resolved `--color` for stderr.
pub fn reporter(mode: ProgressMode, level: Level, color: bool) -> Arc<dyn Reporter> {
    let terminal = std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb");
    match mode {
        // `--quiet` on a terminal: no bars, only errors and the summary.
        ProgressMode::Auto | ProgressMode::Bar if level == Level::Quiet => {
            Arc::new(plain::PlainReporter::stderr(level))
        }
        ProgressMode::Auto if terminal => Arc::new(terminal::TerminalReporter::new(level, color)),
        ProgressMode::Bar => Arc::new(terminal::TerminalReporter::new(level, color)),
        ProgressMode::Auto | ProgressMode::Plain => Arc::new(plain::PlainReporter::stderr(level)),
        ProgressMode::Json => Arc::new(json::JsonReporter::stdout()),
        ProgressMode::None => Arc::new(Silent),
    }
}

/// `--progress none`: errors reach stderr by other paths; events are dropped.
#[derive(Debug)]
pub struct Silent;

impl Reporter for Silent {
    fn report(&self, _: &crate::events::Event) {}
}

/// `1.2s`, `3m05s`, `1h02m`: short durations for lines and tables.
pub fn short_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else if secs < 3600.0 {
        format!("{}m{:02}s", (secs / 60.0) as u64, secs as u64 % 60)
    } else {
        format!("{}h{:02}m", (secs / 3600.0) as u64, (secs as u64 % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::short_duration;
    use std::time::Duration;

    #[test]
    fn durations_are_short() {
        assert_eq!(short_duration(Duration::from_millis(1234)), "1.2s");
        assert_eq!(short_duration(Duration::from_secs(185)), "3m05s");
        assert_eq!(short_duration(Duration::from_secs(3720)), "1h02m");
    }
}
