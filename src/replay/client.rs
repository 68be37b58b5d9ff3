//! The client under test: a command run once per `replay --serve` run,
//! whose exit status and standard output are part of the verdict.
//!
//! This module owns [`ClientCommand`] (the command line and its time
//! bound), [`Exit`] (how the program ended) and [`ClientRun`] (what it
//! did). A run starts the command with `sh -c`, `{port}` replaced by the
//! listening port and `FRAMESCOPE_HOST` / `FRAMESCOPE_PORT` in its
//! environment, in a process group of its own; at the bound the whole group
//! is killed and the run says [`Exit::Hung`]. What the program prints is
//! kept up to [`MAX_OUTPUT`] bytes (standard output) and
//! [`MAX_ERROR_OUTPUT`] bytes (standard error); past that it is read and
//! counted but not kept. It does not serve the connection
//! ([`super::serve`] does) and does not judge the run ([`super::compare`]
//! does).
//!
//! ```text
//! sh -c 'python3 client.py {port}'   -> python3 client.py 40123
//!   stdout  -> kept (1 MiB), compared line by line with the reference runs
//!   exit    -> 0, 1, killed by a signal, or hung (killed at the bound)
//! ```

use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::ReplayError;

/// Standard output kept per run: 1 MiB.
pub const MAX_OUTPUT: usize = 1 << 20;

/// Standard error kept per run: 64 KiB.
pub const MAX_ERROR_OUTPUT: usize = 64 << 10;

/// The client program to run once per run.
#[derive(Clone, Debug)]
pub struct ClientCommand {
    /// The command, for `sh -c`; `{port}` is replaced by the listening port.
    pub command: String,
    /// The longest a run of it may take; past it the program is killed.
    pub timeout: Duration,
}

/// How the client program ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Exit {
    /// It exited with this status.
    Code(i32),
    /// A signal ended it (not ours).
    Signal(i32),
    /// It was still running at the bound and was killed.
    Hung,
}

impl Exit {
    fn from_status(status: ExitStatus) -> Exit {
        match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            (None, None) => Exit::Signal(0),
        }
    }

    /// `exit 0`, `signal 11`, `hung`.
    pub fn text(self) -> String {
        match self {
            Exit::Code(c) => format!("exit {c}"),
            Exit::Signal(s) => format!("signal {s}"),
            Exit::Hung => "hung".into(),
        }
    }
}

/// What the client program did in one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRun {
    /// How it ended.
    pub exit: Exit,
    /// Its standard output (the first [`MAX_OUTPUT`] bytes).
    pub stdout: Vec<u8>,
    /// Its standard error (the first [`MAX_ERROR_OUTPUT`] bytes).
    pub stderr: Vec<u8>,
    /// Connections it made to the listening address during the run: the
    /// first is served, the others are reset.
    pub connections: usize,
}

impl ClientRun {
    /// The output's lines, each with its line end.
    pub fn lines(&self) -> Vec<&[u8]> {
        self.stdout.split_inclusive(|&b| b == b'\n').collect()
    }

    /// The last non-empty line of standard error, for reports.
    pub fn last_error_line(&self) -> Option<String> {
        String::from_utf8_lossy(&self.stderr)
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().to_string())
    }
}

/// A started client program.
pub struct Running {
    child: Child,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

impl ClientCommand {
    /// The command line with `{port}` replaced.
    pub fn line(&self, port: u16) -> String {
        self.command.replace("{port}", &port.to_string())
    }

    /// Starts the program for a server listening on `addr`.
    pub fn start(&self, addr: SocketAddr) -> Result<Running, ReplayError> {
        let host = if addr.ip().is_unspecified() {
            if addr.is_ipv4() {
                "127.0.0.1".to_string()
            } else {
                "::1".to_string()
            }
        } else {
            addr.ip().to_string()
        };
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(self.line(addr.port()))
            .env("FRAMESCOPE_HOST", host)
            .env("FRAMESCOPE_PORT", addr.port().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|source| ReplayError::Io {
                what: format!("starting the client command {:?}", self.command),
                source,
            })?;
        let stdout = child.stdout.take().map(|s| keep(s, MAX_OUTPUT));
        let stderr = child.stderr.take().map(|s| keep(s, MAX_ERROR_OUTPUT));
        Ok(Running {
            child,
            stdout,
            stderr,
        })
    }
}

/// Reads `from` to its end on a thread, keeping the first `limit` bytes.
fn keep(mut from: impl Read + Send + 'static, limit: usize) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => return kept,
                Ok(n) => {
                    let room = limit.saturating_sub(kept.len());
                    kept.extend_from_slice(buf.get(..n.min(room)).unwrap_or(&[]));
                }
            }
        }
    })
}

impl Running {
    /// The process id (also its process group's).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the program to exit on a thread of its own; the thread
    /// calls `exited` with how it ended.
    pub fn wait_on_thread(
        mut self,
        exited: impl FnOnce(Exit) + Send + 'static,
    ) -> JoinHandle<(Vec<u8>, Vec<u8>)> {
        thread::spawn(move || {
            let exit = self.child.wait().map_or(Exit::Hung, Exit::from_status);
            exited(exit);
            let join = |h: Option<JoinHandle<Vec<u8>>>| {
                h.map(|h| h.join().unwrap_or_default()).unwrap_or_default()
            };
            (join(self.stdout.take()), join(self.stderr.take()))
        })
    }
}

/// Kills process group `group` (a client program and everything it
/// started).
pub fn kill_group(group: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{group}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn run(command: &str, timeout: Duration) -> (Exit, Vec<u8>, Vec<u8>) {
        let cmd = ClientCommand {
            command: command.into(),
            timeout,
        };
        let running = cmd.start("127.0.0.1:4321".parse().unwrap()).unwrap();
        let group = running.id();
        let (tx, rx) = mpsc::channel();
        let h = running.wait_on_thread(move |e| {
            let _ = tx.send(e);
        });
        let exit = match rx.recv_timeout(timeout) {
            Ok(e) => e,
            Err(_) => {
                kill_group(group);
                let _ = rx.recv();
                Exit::Hung
            }
        };
        let (out, err) = h.join().unwrap();
        (exit, out, err)
    }

    #[test]
    fn the_port_and_environment_reach_the_program() {
        let (exit, out, err) = run(
            "echo {port} $FRAMESCOPE_HOST $FRAMESCOPE_PORT; echo oops >&2; exit 3",
            Duration::from_secs(20),
        );
        assert_eq!(exit, Exit::Code(3));
        assert_eq!(out, b"4321 127.0.0.1 4321\n");
        assert_eq!(err, b"oops\n");
    }

    #[test]
    fn a_program_past_the_bound_is_killed_with_its_children() {
        // The shell starts a child that would outlive it and hold its
        // output open: the whole group goes, so the output ends too.
        let start = std::time::Instant::now();
        let (exit, _, _) = run("sleep 30 & wait", Duration::from_secs(1));
        assert_eq!(exit, Exit::Hung);
        assert!(start.elapsed() < Duration::from_secs(20));
    }

    #[test]
    fn output_is_kept_up_to_the_bound() {
        let (exit, out, _) = run(
            "head -c 3000000 /dev/zero; echo done >&2",
            Duration::from_secs(20),
        );
        assert_eq!(exit, Exit::Code(0));
        assert_eq!(out.len(), MAX_OUTPUT);
    }
}
