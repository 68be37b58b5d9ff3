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
mod proxy;
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
        Command::Proxy(a) => proxy::run(a),
        Command::Dissector(a) => dissector::run(a),
        Command::Completions(a) => docs::completions(a),
        Command::Manpage(a) => docs::manpage(a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(io::stderr(), "framescope: {}", describe(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes, each said once: a cause whose text its
/// parent already includes (a typed error that shows its source) is not
/// repeated.
fn describe(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        let kind = c
            .downcast_ref::<io::Error>()
            .map(io::Error::kind)
            .or_else(|| {
                c.downcast_ref::<serde_json::Error>()
                    .and_then(serde_json::Error::io_error_kind)
            });
        kind == Some(io::ErrorKind::BrokenPipe)
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

/// Reads the key log `--keylog` (or `SSLKEYLOGFILE`) names, if any; lines
/// it could not read are warnings.
fn load_keylog(args: &args::KeylogArgs) -> anyhow::Result<Option<crate::tls::KeyLog>> {
    let Some(path) = &args.keylog else {
        return Ok(None);
    };
    let log = crate::tls::KeyLog::from_file(path)?;
    let mut err = io::stderr().lock();
    for p in log.problems() {
        let _ = writeln!(err, "framescope: warning: {}: {p}", path.display());
    }
    Ok(Some(log))
}

/// Prints what the decryption of TLS streams had to say.
fn warn_tls(notes: &[crate::tls::StreamNote], more: u64) {
    let mut err = io::stderr().lock();
    for n in notes {
        let _ = writeln!(
            err,
            "framescope: tls: stream {} {} offset {}: {}",
            n.stream,
            n.dir.name(),
            n.offset,
            n.text
        );
    }
    if more > 0 {
        let _ = writeln!(err, "framescope: tls: and {more} more notes");
    }
}
