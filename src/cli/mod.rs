//! The command line: flags parsed once into a validated configuration, then
//! one function per subcommand. Errors carry context here, at the edge;
//! everything below returns typed errors.
//!
//! Exit codes: 0 success; 1 `--fail-on` found what it looks for; 2 the input
//! could not be read at all (or bad usage).

mod analyze;
mod args;
mod capture;
mod detect;
mod dissector;
mod docs;
mod flows;
mod follow;
mod lab;
mod replay;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

pub use args::{parse_size, Cli, Command};

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Flows(a) => flows::run(a),
        Command::Follow(a) => follow::run(a),
        Command::Analyze(a) => analyze::run(a),
        Command::Detect(a) => detect::run(a),
        Command::Replay(a) => replay::run(a),
        Command::FuzzServer(a) => replay::fuzz(a),
        Command::Capture(a) => capture::run(a),
        Command::Lab(a) => lab::run(a),
        Command::Dissector(a) => dissector::run(a),
        Command::Completions(a) => docs::completions(a),
        Command::Manpage(a) => docs::manpage(a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(io::stderr(), "framescope: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Prints the capture-level warnings (damage, undissectable records) to
/// stderr, and returns whether anything at all was read.
fn warn_summary(path: &str, s: &crate::pipeline::CaptureSummary) -> bool {
    let mut err = io::stderr().lock();
    if let Some(e) = &s.error {
        let _ = writeln!(
            err,
            "framescope: warning: {path}: {e}; the {} records before it are analysed",
            s.records
        );
    }
    if s.malformed > 0 {
        let _ = writeln!(
            err,
            "framescope: warning: {} records could not be dissected, first: {}",
            s.malformed,
            s.malformed_examples.first().map_or("", String::as_str)
        );
    }
    s.records > 0 || s.error.is_none()
}
