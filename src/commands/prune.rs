//! `handoff prune`: removes finished runs from the journal and gives their space back.

use std::fmt::Write as _;
use std::time::Duration;

use crate::cli::{Format, PruneArgs};
use crate::exit::Exit;
use crate::journal::{PrunePlan, Pruned, PrunedRun, RunLock};

use super::print_out;

/// Runs of the last day count toward Partner Central's rolling 24-hour quota (the engine
/// counts them from the journal): pruning them would let a run start more than fits.
const QUOTA_WINDOW: Duration = Duration::from_secs(24 * 3600);

pub fn run(args: &PruneArgs) -> anyhow::Result<Exit> {
    if args.older_than.is_none() && args.runs.is_empty() {
        eprintln!("handoff: error: say what to prune: --older-than DURATION, or the ids of runs to remove");
        return Ok(Exit::Invalid);
    }
    if let Some(age) = args.older_than.filter(|age| *age < QUOTA_WINDOW) {
        eprintln!(
            "handoff: error: --older-than {} is less than 24h: the runs of the last 24 hours count toward the \
             rolling daily quota of Partner Central's writes; name a run to remove it anyway",
            humantime::format_duration(age)
        );
        return Ok(Exit::Invalid);
    }
    let Some(journal) = super::runs::open(&args.state)? else { return Ok(Exit::Invalid) };
    let ended_before = args.older_than.map(|age| {
        let cutoff = chrono::Utc::now() - chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX);
        cutoff.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    });
    let plan = PrunePlan {
        ended_before,
        keep_last: args.keep_last,
        named: args.runs.clone(),
        dry_run: args.dry_run,
        // --older-than is at least 24h: the quota's window is already outside the cutoff.
        quota_window: None,
    };
    let lock_held = |run: &PrunedRun| RunLock::is_held(&RunLock::path_for(journal.path(), &run.playbook));
    let pruned = match journal.prune(&plan, lock_held) {
        Ok(pruned) => pruned,
        Err(error) => {
            eprintln!("handoff: error: {error}");
            return Ok(Exit::Failures);
        }
    };
    match args.format {
        Format::Json => print_out(format_args!("{}\n", serde_json::to_string_pretty(&pruned)?))?,
        Format::Human => print_out(format_args!("{}", describe(&pruned, args.dry_run, journal.path())))?,
    }
    Ok(if pruned.kept_in_progress.is_empty() { Exit::Success } else { Exit::Failures })
}

fn describe(pruned: &Pruned, dry_run: bool, path: &std::path::Path) -> String {
    let mut out = String::new();
    let verb = if dry_run { "would remove" } else { "removed" };
    let runs = if pruned.removed.len() == 1 { "run" } else { "runs" };
    let _ = writeln!(out, "{verb} {} {runs} ({} items)", pruned.removed.len(), pruned.items_removed);
    for run in &pruned.removed {
        let _ = writeln!(out, "  {} {} {} (started {})", run.id, run.playbook, run.status, run.started_at);
    }
    if !pruned.kept_resumable.is_empty() {
        let _ = writeln!(
            out,
            "kept {} runs that can still be resumed (name them to remove them):",
            pruned.kept_resumable.len()
        );
        for run in &pruned.kept_resumable {
            let _ =
                writeln!(out, "  {} {} {} (started {})", run.id, run.playbook, run.status, run.started_at);
        }
    }
    for run in &pruned.kept_in_progress {
        let _ = writeln!(out, "kept {} of {}: it is in progress now", run.id, run.playbook);
    }
    let mb = |bytes: u64| bytes as f64 / 1e6;
    if !dry_run {
        let _ = writeln!(
            out,
            "journal {}: {:.1} MB -> {:.1} MB",
            path.display(),
            mb(pruned.bytes_before),
            mb(pruned.bytes_after)
        );
    }
    out
}
