//! `handoff skeleton ACTION`: a commented sample step, generated from the action's schema.

use crate::cli::SkeletonArgs;
use crate::exit::Exit;
use crate::skeleton;

pub fn run(args: &SkeletonArgs) -> anyhow::Result<Exit> {
    super::print_out(skeleton::render(args.action))?;
    Ok(Exit::Success)
}
