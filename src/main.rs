//! The `handoff` binary: everything happens in [`handoff::commands::run`].

fn main() -> std::process::ExitCode {
    handoff::commands::run().into()
}
