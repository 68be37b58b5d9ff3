//! The `framescope` binary: parse, run, map errors to an exit code.

fn main() -> std::process::ExitCode {
    framescope::cli::main()
}
