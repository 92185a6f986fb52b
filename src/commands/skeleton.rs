//! `handoff skeleton ACTION`: a commented sample step, generated from the action's schema.

use std::io::Write;

use crate::cli::SkeletonArgs;
use crate::exit::Exit;
use crate::skeleton;

pub fn run(args: &SkeletonArgs) -> anyhow::Result<Exit> {
    std::io::stdout().lock().write_all(skeleton::render(args.action).as_bytes())?;
    Ok(Exit::Success)
}
