//! The `openclaw` binary: everything lives in the library; this maps its result to an exit code.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(openclaw::cli::main().clamp(0, 255) as u8)
}
