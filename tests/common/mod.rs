//! What the integration tests share: the repository and its captures,
//! running the binary, skipping a test when a tool is missing (and failing
//! instead under `CI=true`), scratch directories, small length-prefixed
//! servers on 127.0.0.1, and the oracles recorded beside the real-server
//! captures.
//!
//! Each test file that needs it declares `mod common;` and uses a part of
//! it, hence the `dead_code` allowance: what one test binary leaves unused,
//! another uses.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use framescope::capture::live::{LiveCapture, LiveConfig, LiveError};
use serde_json::Value;

/// The `framescope` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_framescope");

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every capture file (`.pcap`, `.pcapng`, `.cap`) under `captures/`,
/// sorted.
pub fn captures() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path
                .extension()
                .is_some_and(|e| e == "pcap" || e == "pcapng" || e == "cap")
            {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join("captures"), &mut out);
    out.sort();
    out
}

/// Whether a missing tool or permission must fail the test (under CI).
pub fn must_run() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Skips `test` with a message saying `why`, or fails under CI.
pub fn skip(test: &str, why: &str) {
    assert!(!must_run(), "{test}: CI=true but {why}");
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// Whether `program args` runs and succeeds (a tool `test` needs, named
/// `what`); when it does not, `test` is skipped ([`skip`]).
pub fn runs(test: &str, program: &str, args: &[&str], what: &str) -> bool {
    let ok = Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let why = format!("{what} is not installed (scripts/deps.sh --test installs it)");
        skip(test, &why);
    }
    ok
}

/// Whether the command `cmd` is installed ([`runs`]).
pub fn have(test: &str, cmd: &str) -> bool {
    runs(test, "sh", &["-c", &format!("command -v {cmd}")], cmd)
}

/// Whether this process may capture on `lo`; when it may not, `test` is
/// skipped ([`skip`]).
pub fn may_capture(test: &str) -> bool {
    match LiveCapture::open(&LiveConfig::new("lo")) {
        Ok(_) => true,
        Err(e @ LiveError::Permission { .. }) => {
            let why = format!("live capture is not permitted here ({e}); run as root");
            skip(test, &why);
            false
        }
        Err(e) => panic!("{test}: cannot open lo: {e}"),
    }
}

/// Runs the binary with `args` to its end.
pub fn framescope(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run framescope")
}

/// A finished run's stdout, then its stderr.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The write patterns of `replay --matrix`, in its order.
pub const MATRIX: [&str; 6] = [
    "original",
    "frames",
    "bytes:1",
    "random:1",
    "header-body",
    "coalesce",
];

/// The row of a replay matrix whose pattern (second column) is `split`.
pub fn row<'a>(out: &'a str, split: &str) -> &'a str {
    out.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(split))
        .unwrap_or_else(|| panic!("no row for {split} in\n{out}"))
}

/// The lines of `reader` (a child's stderr, say) as they come, read in a
/// thread of its own so that the writer never waits on a full pipe.
pub fn lines(reader: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// A scratch directory, readable by the users of the servers the tests
/// start, removed when dropped with the `children` stopped first.
pub struct Scratch {
    /// The directory.
    pub dir: PathBuf,
    /// Processes to stop (SIGTERM, then SIGKILL after 10 s) when dropped.
    pub children: Vec<Child>,
}

impl Scratch {
    /// A fresh, empty directory named after `name` and this process.
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("framescope-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755));
        Scratch {
            dir,
            children: Vec::new(),
        }
    }

    /// The path of `file` inside.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for mut c in std::mem::take(&mut self.children) {
            // SIGTERM first: servers clean up; a thread waits for the exit
            // and says so, and a server still running after 10 s is killed.
            let pid = c.id().to_string();
            let _ = Command::new("kill").arg(&pid).status();
            let (exited, exit) = mpsc::channel();
            let waiter = thread::spawn(move || {
                let _ = c.wait();
                let _ = exited.send(());
            });
            if exit.recv_timeout(Duration::from_secs(10)).is_err() {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
            }
            let _ = waiter.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One message: a 4-byte big-endian length, then `body`.
pub fn msg(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

/// Reads one message ([`msg`]); `None` at the end of the stream or past
/// 1 MiB.
pub fn read_message(s: &mut impl Read) -> Option<Vec<u8>> {
    let mut head = [0u8; 4];
    s.read_exact(&mut head).ok()?;
    let len = u32::from_be_bytes(head) as usize;
    if len > 1 << 20 {
        return None;
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    Some(body)
}

/// A server on 127.0.0.1 (an ephemeral port) running `handler` on each
/// connection, in a thread of its own.
pub fn serve<F: Fn(TcpStream) + Send + Sync + 'static>(handler: F) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let handler = Arc::new(handler);
    thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let h = Arc::clone(&handler);
            thread::spawn(move || h(conn));
        }
    });
    addr
}

/// Echoes whole messages: frames correctly.
pub fn echo(mut s: TcpStream) {
    while let Some(body) = read_message(&mut s) {
        if s.write_all(&msg(&body)).is_err() {
            return;
        }
    }
}

/// Takes every `recv()` as one message (its first 4 bytes the header) and
/// answers it.
pub fn naive(s: TcpStream) {
    naive_noting(s, |_| {});
}

/// The naive server ([`naive`]), telling `noted` the size of every
/// `recv()`.
pub fn naive_noting(mut s: TcpStream, mut noted: impl FnMut(usize)) {
    let mut buf = vec![0u8; 65536];
    while let Ok(n @ 1..) = s.read(&mut buf) {
        noted(n);
        if s.write_all(&msg(&buf[4.min(n)..n])).is_err() {
            return;
        }
    }
}

/// `(client, server)` addresses and per-direction message counts of each
/// stream of an analyze-schema document, sorted.
pub fn counts(doc: &Value) -> Vec<(String, String, u64, u64)> {
    let mut v: Vec<_> = doc["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .map(|s| {
            (
                s["client"].as_str().unwrap_or_default().to_string(),
                s["server"].as_str().unwrap_or_default().to_string(),
                s["dirs"]["client"]["messages"].as_u64().unwrap_or(0),
                s["dirs"]["server"]["messages"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    v.sort();
    v
}

/// The real-server captures' directory (`captures/servers/`).
pub fn servers_dir() -> PathBuf {
    root().join("captures/servers")
}

/// The oracle documents recorded beside the real-server captures (each
/// `*.tshark.json` of [`servers_dir`]), sorted by file name.
pub fn server_oracles() -> Vec<Value> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(servers_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(".tshark.json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
        .collect()
}

/// The `--frame` spec of an oracle's protocol (tshark's name for it).
pub fn server_framing(protocol: &str) -> &'static str {
    match protocol {
        "resp" => "resp",
        "pgsql" => "pgsql",
        "memcache" => "memcached",
        "mqtt" => "mqtt",
        "http" => "http1",
        "http2" => "http2",
        "dns" => "dns-tcp",
        other => panic!("no framing for {other}"),
    }
}

/// Validates `files` against `docs/schema/SCHEMA.schema.json`
/// (`scripts/validate-json.py`, which needs python3's jsonschema); returns
/// how many documents passed.
pub fn validate(schema: &str, files: &[PathBuf]) -> usize {
    let out = Command::new("python3")
        .arg(root().join("scripts/validate-json.py"))
        .arg(schema)
        .args(files)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{schema}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count of valid documents")
}

/// Runs framescope with `args` (which ask for one JSON document), checks
/// the document against `docs/schema/SCHEMA.schema.json` ([`validate`];
/// without python3's jsonschema the check is skipped with a message, which
/// fails under CI), and returns the exit code and the document.
pub fn json_output(test: &str, schema: &str, args: &[&str]) -> (Option<i32>, Value) {
    let o = framescope(args);
    let doc: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{test}: not one JSON document ({e}):\n{}", text(&o)));
    if runs(
        test,
        "python3",
        &["-c", "import jsonschema"],
        "python3's jsonschema",
    ) {
        let file =
            std::env::temp_dir().join(format!("framescope-{test}-{}.json", std::process::id()));
        std::fs::write(&file, &o.stdout).unwrap();
        assert_eq!(validate(schema, std::slice::from_ref(&file)), 1);
        let _ = std::fs::remove_file(&file);
    }
    (o.status.code(), doc)
}
