//! Real clients through `framescope proxy` to real servers, each started by
//! the test on 127.0.0.1 with an ephemeral port: redis-cli and
//! redis-benchmark with redis-server, psql with PostgreSQL (run as a
//! non-root user from a fresh `initdb`), mosquitto_pub and mosquitto_sub
//! with mosquitto, curl with nginx. Each session runs once directly and
//! then through the proxy with `--split-client bytes:1 --split-server
//! random` and the reverse: the client's output must be the same, and the
//! proxy's message counts must equal those of `analyze` on a tcpdump
//! capture of the proxied session (both legs).
//!
//! The servers, clients and tcpdump come from `scripts/deps.sh --test`.
//! Where one is missing, or capturing is not permitted, a test says so and
//! passes, except under CI (`CI=true`), where it fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use framescope::capture::CaptureReader;
use framescope::dissect::{dissect, Dissected, Transport};
use serde_json::Value;
use sha2::{Digest, Sha256};

mod common;

use common::{counts, have, lines, skip, Scratch, BIN};

/// The longest any wait may take before it is a failure.
const BOUND: Duration = Duration::from_secs(60);

/// The two pattern pairs every session is run with.
const PATTERNS: [(&str, &str); 2] = [("bytes:1", "random"), ("random", "bytes:1")];

/// A free port on 127.0.0.1 for a server that cannot be given port 0.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Waits until something accepts connections on `port`.
fn wait_listening(port: u16, child: &mut Child, what: &str) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited ({status}) before listening on {port}");
        }
        assert!(start.elapsed() < BOUND, "{what} does not listen on {port}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// tcpdump on `lo`, writing `file`, ready once it says it listens.
struct Tcpdump {
    child: Child,
    stderr: mpsc::Receiver<String>,
}

impl Tcpdump {
    /// Starts a capture; `None` (skip) when capturing is not permitted.
    fn start(test: &str, file: &Path, filter: &str) -> Option<Tcpdump> {
        let mut child = Command::new("tcpdump")
            .args(["-i", "lo", "-U", "-B", "65536", "-s", "0", "-w"])
            .arg(file)
            .arg(filter)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpdump");
        let rx = lines(child.stderr.take().expect("stderr"));
        loop {
            match rx.recv_timeout(BOUND) {
                Ok(l) if l.contains("listening on") => {
                    return Some(Tcpdump { child, stderr: rx });
                }
                Ok(l) if l.contains("ermission") || l.contains("not permitted") => {
                    skip(test, &format!("tcpdump may not capture: {l}"));
                    let _ = child.wait();
                    return None;
                }
                Ok(_) => {}
                Err(_) => panic!("{test}: tcpdump did not start"),
            }
        }
    }

    /// Stops the capture once it holds a marker sent after everything
    /// else (a connection attempt to `closed`, a port that matches the
    /// filter and no longer listens), and checks that nothing was dropped.
    fn stop(mut self, file: &Path, closed: u16) {
        let marker = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        marker
            .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .expect("bind");
        let from = marker
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .map(|a| a.port())
            .expect("marker port");
        let _ = marker.connect(&SocketAddr::from(([127, 0, 0, 1], closed)).into());
        let start = Instant::now();
        while !holds_port(file, from) {
            assert!(start.elapsed() < BOUND, "tcpdump did not write the marker");
            thread::sleep(Duration::from_millis(10));
        }
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let lines: Vec<String> = self.stderr.try_iter().collect();
        let dropped = lines.iter().find(|l| l.contains("dropped by kernel"));
        assert!(
            dropped.is_some_and(|l| l.starts_with("0 ")),
            "tcpdump lost packets: {lines:?}"
        );
    }
}

/// Whether the capture `file` holds a TCP packet from port `port`.
fn holds_port(file: &Path, port: u16) -> bool {
    let Ok(mut r) = CaptureReader::open(file) else {
        return false;
    };
    while let Ok(Some(rec)) = r.next_record() {
        if let Dissected::Packet(p) = dissect(rec.link, rec.data, rec.orig_len) {
            if matches!(p.transport, Transport::Tcp(t) if t.src_port == port) {
                return true;
            }
        }
    }
    false
}

/// A session to run: the server's port and framing, the number of
/// connections the client makes, and the client, given the port to use.
struct Session<'a> {
    name: &'a str,
    port: u16,
    frame: &'a str,
    connections: u64,
    client: &'a dyn Fn(u16) -> String,
}

/// Runs `s` directly, then through the proxy with each pattern pair.
fn check(test: &str, scratch: &Scratch, s: &Session<'_>) {
    let direct = (s.client)(s.port);
    assert!(
        !direct.is_empty(),
        "{}: the direct run printed nothing",
        s.name
    );
    for (to_server, to_client) in PATTERNS {
        let mut proxy = Command::new(BIN)
            .args(["proxy", "--listen", "127.0.0.1:0", "--to"])
            .arg(format!("127.0.0.1:{}", s.port))
            .args(["--split-client", to_server, "--split-server", to_client])
            .args(["--frame", s.frame, "--format", "json"])
            .args([
                "--connections",
                &s.connections.to_string(),
                "--duration",
                "300",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("proxy");
        let err = proxy.stderr.take().expect("stderr");
        let mut err = BufReader::new(err);
        let mut line = String::new();
        err.read_line(&mut line).expect("the proxy's first line");
        let port: u16 = line
            .split("proxying 127.0.0.1:")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        // The live lines go to stderr: read them as they come, so that the
        // proxy never waits on a full pipe.
        let drain = thread::spawn(move || {
            let mut rest = String::new();
            let _ = err.read_to_string(&mut rest);
            rest
        });
        let pcap = scratch.path(&format!("{}-{to_server}.pcap", s.name));
        let filter = format!("tcp port {port} or tcp port {}", s.port);
        let Some(dump) = Tcpdump::start(test, &pcap, &filter) else {
            let _ = proxy.kill();
            let _ = proxy.wait();
            return;
        };
        let through = (s.client)(port);
        let mut out = String::new();
        proxy
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut out)
            .expect("proxy output");
        let status = proxy.wait().expect("proxy exit");
        let rest = drain.join().unwrap_or_default();
        dump.stop(&pcap, port);
        let what = format!(
            "{} with --split-client {to_server} --split-server {to_client}",
            s.name
        );
        assert_eq!(through, direct, "{what}: the client's output changed");
        let doc: Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{what}: {e}: {out}\n{rest}"));
        assert_eq!(status.code(), Some(0), "{what}: {rest}\n{}", doc["proxy"]);
        let p = &doc["proxy"];
        assert_eq!(p["connections"], s.connections, "{what}: {p}");
        assert_eq!(p["server_ends"].get("hung"), None, "{what}: {p}");
        let live = counts(&doc);
        assert_eq!(live.len() as u64, 2 * s.connections, "{what}: {live:?}");
        assert!(live.iter().all(|c| c.2 > 0), "{what}: {live:?}");
        let analyzed = Command::new(BIN)
            .arg("analyze")
            .arg(&pcap)
            .args(["--frame", s.frame, "--format", "json"])
            .output()
            .expect("analyze");
        let analyzed: Value = serde_json::from_slice(&analyzed.stdout).expect("analyze JSON");
        assert_eq!(
            counts(&analyzed),
            live,
            "{what}: tcpdump's capture against the proxy"
        );
    }
}

fn run(cmd: &mut Command) -> String {
    let out: Output = cmd.output().expect("run the client");
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn redis_cli_and_redis_benchmark() {
    let test = "redis_cli_and_redis_benchmark";
    if !["redis-server", "redis-cli", "redis-benchmark", "tcpdump"]
        .iter()
        .all(|c| have(test, c))
    {
        return;
    }
    let mut scratch = Scratch::new("redis");
    let port = free_port();
    let mut server = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--appendonly", "no", "--dir"])
        .arg(&scratch.dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server");
    wait_listening(port, &mut server, "redis-server");
    scratch.children.push(server);
    let big = "x".repeat(5000);
    let script = format!(
        "FLUSHALL\nSET greeting hello\nGET greeting\nINCR counter\nINCR counter\n\
         RPUSH list a b c d e\nLRANGE list 0 -1\nSET big {big}\nSTRLEN big\nGET big\nGET missing\n"
    );
    let cli = |p: u16| {
        let mut c = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &p.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("redis-cli");
        c.stdin
            .take()
            .expect("stdin")
            .write_all(script.as_bytes())
            .expect("script");
        let out = c.wait_with_output().expect("redis-cli");
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    check(
        test,
        &scratch,
        &Session {
            name: "redis-cli",
            port,
            frame: "resp",
            connections: 1,
            client: &cli,
        },
    );
    // redis-benchmark prints rates that vary: compare the tests it ran.
    let bench = |p: u16| {
        let out = run(Command::new("redis-benchmark")
            .args(["-h", "127.0.0.1", "-p", &p.to_string()])
            .args(["-c", "2", "-n", "500", "-t", "set,get", "--csv"]));
        out.lines()
            .map(|l| l.split(',').next().unwrap_or_default().to_string() + "\n")
            .collect()
    };
    check(
        test,
        &scratch,
        &Session {
            name: "redis-benchmark",
            port,
            frame: "resp",
            // one for the configuration, two per test
            connections: 5,
            client: &bench,
        },
    );
}

#[test]
fn psql_with_postgresql() {
    let test = "psql_with_postgresql";
    let Some(bin) = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|d| d.flatten().map(|e| e.path().join("bin")).max())
        .filter(|b| b.join("initdb").exists())
    else {
        skip(test, "PostgreSQL is not installed");
        return;
    };
    if !have(test, "psql") || !have(test, "tcpdump") {
        return;
    }
    let mut scratch = Scratch::new("postgres");
    let data = scratch.path("data");
    // PostgreSQL refuses to run as root: as root, run it as its own user.
    let root = run(Command::new("id").arg("-u")).trim() == "0";
    let as_user = |cmd: &Path| {
        let mut c = if root {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                "--",
            ])
            .arg(cmd);
            c
        } else {
            Command::new(cmd)
        };
        c.current_dir(&scratch.dir);
        c
    };
    std::fs::create_dir_all(&data).expect("data dir");
    if root {
        run(Command::new("chown").args(["postgres:postgres"]).arg(&data));
    }
    run(as_user(&bin.join("initdb")).arg("-D").arg(&data).args([
        "-U",
        "postgres",
        "--auth=trust",
        "--no-sync",
        "--locale=C.UTF-8",
        "-E",
        "UTF8",
    ]));
    let port = free_port();
    let mut server = as_user(&bin.join("postgres"))
        .arg("-D")
        .arg(&data)
        .args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            &format!("port={port}"),
        ])
        .args([
            "-c",
            "unix_socket_directories=",
            "-c",
            "fsync=off",
            "-c",
            "ssl=off",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("postgres");
    wait_listening(port, &mut server, "postgres");
    scratch.children.push(server);
    let conn = |p: u16| {
        format!("host=127.0.0.1 port={p} user=postgres dbname=postgres sslmode=disable gssencmode=disable")
    };
    // The port listens slightly before the server accepts sessions.
    let start = Instant::now();
    while !Command::new("psql")
        .args([&conn(port), "-Atc", "select 1"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        assert!(
            start.elapsed() < BOUND,
            "PostgreSQL does not accept sessions"
        );
        thread::sleep(Duration::from_millis(50));
    }
    let sql = "DROP TABLE IF EXISTS items;\n\
               CREATE TABLE items (id integer PRIMARY KEY, name text, price numeric(10,2));\n\
               INSERT INTO items SELECT g, 'item-' || g, g * 1.25 FROM generate_series(1, 2000) g;\n\
               SELECT count(*), sum(price) FROM items;\n\
               SELECT * FROM items WHERE id % 40 = 0 ORDER BY id;\n\
               SELECT 1 / 0;\n\
               SELECT max(id) FROM items;\n";
    let psql = |p: u16| {
        let mut c = Command::new("psql")
            .args([&conn(p), "-X", "-q", "-v", "ON_ERROR_STOP=0", "-f", "-"])
            .env("PSQLRC", "/dev/null")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("psql");
        c.stdin
            .take()
            .expect("stdin")
            .write_all(sql.as_bytes())
            .expect("sql");
        let out = c.wait_with_output().expect("psql");
        // The division by zero is an error by design: exit 0 all the same
        // (ON_ERROR_STOP=0), its message on stderr.
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("division by zero"), "{err}");
        // The first run's NOTICE (no table to drop) is left out.
        let err: String = err.lines().filter(|l| !l.contains("NOTICE")).collect();
        String::from_utf8_lossy(&out.stdout).into_owned() + &err
    };
    check(
        test,
        &scratch,
        &Session {
            name: "psql",
            port,
            frame: "pgsql",
            connections: 1,
            client: &psql,
        },
    );
}

#[test]
fn mosquitto_pub_and_sub() {
    let test = "mosquitto_pub_and_sub";
    if !["mosquitto", "mosquitto_pub", "mosquitto_sub", "tcpdump"]
        .iter()
        .all(|c| have(test, c))
    {
        return;
    }
    let mut scratch = Scratch::new("mosquitto");
    let port = free_port();
    let conf = scratch.path("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
             queue_qos0_messages true\nlog_dest none\n"
        ),
    )
    .expect("config");
    let mut server = Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto");
    wait_listening(port, &mut server, "mosquitto");
    scratch.children.push(server);
    let lines: Vec<String> = (0..5)
        .map(|i| format!("message {i} {}", "m".repeat(i * 300)))
        .collect();
    // A persistent session: subscribe and leave (-E), publish at QoS 1
    // while it is away, then come back for the queued messages. No step
    // waits on another's output. The subscription is QoS 0: deliveries are
    // not acknowledged while they arrive (the broker's pushes would
    // interleave with the acknowledgements, which the answer rule cannot
    // tell from answers; see the README).
    let session = |p: u16| {
        let port = p.to_string();
        let id = format!("fs-sub-{p}");
        let sub = [
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "fs/test",
            "-q",
            "0",
            "-c",
            "-i",
            &id,
        ];
        run(Command::new("mosquitto_sub").args(sub).arg("-E"));
        let mut publ = Command::new("mosquitto_pub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-t",
                "fs/test",
                "-q",
                "1",
                "-l",
            ])
            .stdin(Stdio::piped())
            .spawn()
            .expect("mosquitto_pub");
        publ.stdin
            .take()
            .expect("stdin")
            .write_all((lines.join("\n") + "\n").as_bytes())
            .expect("publish");
        assert!(publ.wait().expect("pub").success());
        run(Command::new("mosquitto_sub")
            .args(sub)
            .args(["-C", "5", "-W", "60"]))
    };
    check(
        test,
        &scratch,
        &Session {
            name: "mosquitto",
            port,
            frame: "mqtt",
            connections: 3,
            client: &session,
        },
    );
}

#[test]
fn curl_with_nginx() {
    let test = "curl_with_nginx";
    if !["nginx", "curl", "tcpdump"].iter().all(|c| have(test, c)) {
        return;
    }
    let mut scratch = Scratch::new("nginx");
    let port = free_port();
    let www = scratch.path("www");
    std::fs::create_dir_all(&www).expect("www");
    std::fs::write(www.join("index.html"), "<html><body>hello</body></html>\n").expect("page");
    let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(www.join("big.bin"), &big).expect("big");
    let dir = scratch.dir.display().to_string();
    let conf = scratch.path("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off; master_process off; worker_processes 1;\n\
             error_log {dir}/error.log; pid {dir}/nginx.pid;\n\
             events {{ worker_connections 64; }}\n\
             http {{ access_log off; client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;\n\
               fastcgi_temp_path {dir}/fcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;\n\
               server {{ listen 127.0.0.1:{port}; root {dir}/www; }} }}\n"
        ),
    )
    .expect("config");
    let mut server = Command::new("nginx")
        .arg("-c")
        .arg(&conf)
        .args(["-p", &dir])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx");
    wait_listening(port, &mut server, "nginx");
    scratch.children.push(server);
    let curl = |p: u16| {
        let base = format!("http://127.0.0.1:{p}");
        let out = Command::new("curl")
            .args(["-s", "--max-time", "60"])
            .args([
                format!("{base}/index.html"),
                format!("{base}/big.bin"),
                format!("{base}/missing"),
                format!("{base}/index.html"),
            ])
            .output()
            .expect("curl");
        assert!(out.status.success());
        // Bodies only (the Date header changes), by digest.
        format!(
            "{} bytes, sha256 {:x}",
            out.stdout.len(),
            Sha256::digest(&out.stdout)
        )
    };
    check(
        test,
        &scratch,
        &Session {
            name: "curl",
            port,
            frame: "http1",
            connections: 1,
            client: &curl,
        },
    );
}
