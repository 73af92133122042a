//! batch-manager Lambda — not built yet. It fails at start-up with this message, so a deployment can
//! never mistake it for a working function.

fn main() -> std::process::ExitCode {
    eprintln!("the batch-manager is not implemented yet");
    std::process::ExitCode::FAILURE
}
