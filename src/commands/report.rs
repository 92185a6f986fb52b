//! `handoff report RUN --html FILE`: a run of the journal as one HTML page.

use crate::cli::ReportArgs;
use crate::exit::Exit;

pub fn run(args: &ReportArgs) -> anyhow::Result<Exit> {
    let Some(journal) = super::runs::open(&args.state)? else { return Ok(Exit::Invalid) };
    let run_id = if args.run_id == "latest" {
        match journal.runs(1) {
            Ok(runs) if !runs.is_empty() => runs[0].id.clone(),
            Ok(_) => {
                eprintln!("handoff: error: the journal {} has no runs", journal.path().display());
                return Ok(Exit::Invalid);
            }
            Err(error) => {
                eprintln!("handoff: error: {error}");
                return Ok(Exit::Invalid);
            }
        }
    } else {
        args.run_id.clone()
    };
    if let Err(error) = journal.summary(&run_id) {
        eprintln!("handoff: error: {error}");
        return Ok(Exit::Invalid);
    }
    match crate::report::html::write(&args.html, &journal, &run_id) {
        Ok(bytes) => {
            eprintln!(
                "handoff: wrote the report of run {run_id} to {} ({} KB)",
                args.html.display(),
                bytes.div_ceil(1024)
            );
            Ok(Exit::Success)
        }
        Err(error) => {
            eprintln!("handoff: error: {error}");
            Ok(Exit::Failures)
        }
    }
}
