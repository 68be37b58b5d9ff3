//! Flag definitions. Parsed by clap, then turned into library types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::flow::reassembly::Limits;
use crate::flow::FlowLimits;
use crate::fragments::FragmentLimits;

/// See how application messages really travel over TCP and UDP.
#[derive(Debug, Parser)]
#[command(name = "framescope", version, about, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// One row per TCP stream and UDP flow: endpoints, packets, bytes, anomalies.
    Flows(FlowsArgs),
    /// The reassembled bytes of one stream.
    Follow(FollowArgs),
    /// Frame every stream's messages and show which were split, coalesced,
    /// truncated or malformed, and what a naive recv() reader saw.
    Analyze(AnalyzeArgs),
    /// Infer each TCP stream's framing from its first bytes.
    Detect(DetectArgs),
    /// Send a captured session to a live server with chosen write patterns
    /// and compare its replies with the captured ones; or, with --serve,
    /// play its server side to live clients and compare their requests
    /// and output.
    Replay(ReplayArgs),
    /// Send frame-aware mutations of a captured session to a live server and
    /// save a reproducer for every crash, hang or wrong answer.
    FuzzServer(FuzzServerArgs),
    /// Capture live from an interface (default: the loopback), print each
    /// flagged message as it completes, then the `analyze` report.
    Capture(CaptureArgs),
    /// Built-in demonstrations on 127.0.0.1, captured and diagnosed live.
    Lab(LabArgs),
    /// A TCP proxy between a real client and server: re-cut what it
    /// forwards, analyse both directions live, report how each side coped.
    Proxy(ProxyArgs),
    /// Print a Wireshark Lua dissector for a framing spec, so that Wireshark
    /// reassembles and shows the messages of a custom protocol.
    Dissector(DissectorArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Print the manual page (roff), or write one page per command to a
    /// folder.
    Manpage(ManpageArgs),
}

/// Where the packets come from and how much memory following them may take.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// A pcap or pcapng file; `-` reads standard input.
    pub file: PathBuf,
    /// A BPF filter (tcpdump syntax), compiled by libpcap.
    #[arg(short = 'f', long, value_name = "BPF")]
    pub filter: Option<String>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// The TLS key log that decrypts TLS streams.
#[derive(Debug, Args)]
pub struct KeylogArgs {
    /// Decrypt TLS with this key log (NSS format, as SSLKEYLOGFILE writes
    /// it).
    #[arg(long, value_name = "FILE", env = "SSLKEYLOGFILE")]
    pub keylog: Option<PathBuf>,
}

/// How much memory following the streams may take.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Streams open at once; the least recently active is finalized early past it.
    #[arg(long, default_value_t = 262_144, value_name = "N")]
    pub max_streams: usize,
    /// Out-of-order bytes buffered per direction before a hole is declared a gap.
    #[arg(long, default_value = "4M", value_parser = parse_size, value_name = "SIZE")]
    pub max_buffered: u64,
    /// Out-of-order bytes buffered over all streams.
    #[arg(long, default_value = "64M", value_parser = parse_size, value_name = "SIZE")]
    pub max_buffered_total: u64,
    /// Out-of-order segments buffered per direction.
    #[arg(long, default_value_t = 8192, value_name = "N")]
    pub max_buffered_segments: usize,
    /// IP fragments held over all datagrams being rebuilt (each datagram
    /// also counts 256 bytes); a fragment past it is dropped and counted.
    #[arg(long, default_value = "4M", value_parser = parse_size, value_name = "SIZE")]
    pub max_fragment_bytes: u64,
    /// Seconds of capture time a fragmented datagram may take to complete
    /// (Linux's ipfrag_time); an incomplete one is then dropped and counted.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub fragment_timeout: f64,
}

/// Which flows of a capture file to analyse.
#[derive(Debug, Args)]
pub struct ShardArgs {
    /// Analyse only the flows that hash to shard K of N (e.g. `2/8`); stream
    /// numbers stay those of the whole capture. For splitting a huge capture
    /// over processes or machines.
    #[arg(long, value_name = "K/N", value_parser = crate::flow::Shard::parse)]
    pub shard: Option<crate::flow::Shard>,
}

impl InputArgs {
    /// How the library reads the capture: the filter, the flow-table
    /// bounds, and `shard` (all flows when `None`).
    pub fn reading(&self, shard: Option<crate::flow::Shard>) -> crate::Reading {
        crate::Reading {
            filter: self.filter.clone(),
            limits: self.limits.limits(),
            shard: shard.unwrap_or_default(),
        }
    }
}

impl LimitArgs {
    /// The flow-table bounds these flags ask for.
    pub fn limits(&self) -> FlowLimits {
        FlowLimits {
            max_streams: self.max_streams.max(1),
            reassembly: Limits {
                max_buffered_bytes: usize::try_from(self.max_buffered).unwrap_or(usize::MAX),
                max_buffered_segments: self.max_buffered_segments.max(1),
            },
            max_buffered_total: usize::try_from(self.max_buffered_total).unwrap_or(usize::MAX),
            fragments: FragmentLimits {
                max_bytes: usize::try_from(self.max_fragment_bytes).unwrap_or(usize::MAX),
                // Saturating: a huge or negative value is a bound, not a wrap.
                timeout: (self.fragment_timeout.max(0.0) * 1e9).min(i64::MAX as f64) as i64,
            },
            ..FlowLimits::default()
        }
    }
}

/// Output formats for tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    /// A readable table.
    Table,
    /// One JSON document.
    Json,
}

/// `framescope flows`.
#[derive(Debug, Args)]
pub struct FlowsArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub shard: ShardArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
}

/// `framescope detect`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub shard: ShardArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
    /// With a key log: TLS streams are detected from their decrypted
    /// application data.
    #[command(flatten)]
    pub tls: KeylogArgs,
}

/// Output formats for `analyze`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AnalyzeFormat {
    /// Readable tables.
    Table,
    /// One JSON document (schema in the README).
    Json,
    /// One JSON object per line, streamed: messages, then each stream.
    Jsonl,
}

/// What a framing analysis needs: the framing and the simulations.
#[derive(Debug, Args)]
pub struct AnalysisArgs {
    /// The framing, e.g. `line`, `length:4`, `length:2`, `fixed:16`,
    /// `json-header`, `none`, or a protocol (`resp`, `http1`, ...). See
    /// the list below.
    #[arg(long, value_name = "SPEC")]
    pub frame: Option<String>,
    /// Simulate a naive reader doing these recv() sizes: `1024`, or a list
    /// such as `5,5,10,5`. On a decrypted TLS stream, SSL_read() calls:
    /// each returns at most one TLS record's plaintext.
    #[arg(long, value_name = "SIZES")]
    pub recv: Option<String>,
    /// Gaps between a direction's data segments shorter than this are not
    /// called Nagle / delayed-ACK stalls (milliseconds).
    #[arg(long, default_value_t = 30.0, value_name = "MS")]
    pub stall_threshold: f64,
    /// Exit with code 1 when messages of these kinds are found
    /// (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "KINDS")]
    pub fail_on: Vec<crate::output::FailOn>,
}

/// What the analysis report shows and how: `analyze`, `capture` and
/// `proxy` print the same report.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Show one row per message (JSON: include every message).
    #[arg(long)]
    pub messages: bool,
    /// Most messages kept for the table and JSON outputs.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub max_messages: usize,
    /// Most Nagle / delayed-ACK stalls listed over all streams (the
    /// streams' counters count every one; the JSON document counts those
    /// left out in `stalls_dropped`).
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub max_stalls: usize,
    /// Streams the table shows, most flagged first, and twice the rows of
    /// the flagged-message sample and of the stall table; 0 shows all.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub top: usize,
    /// Most streams whose results the JSON document (and the table with
    /// --top 0, --html or --diagram) keeps: those most in need of
    /// attention. The others are counted (`streams_dropped`) and their
    /// counters are in the totals.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub max_stream_results: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = AnalyzeFormat::Table)]
    pub format: AnalyzeFormat,
}

impl ReportArgs {
    /// The streams' results to keep: the table shows the `--top` most in
    /// need of attention and keeps only those, so its memory does not grow
    /// with the number of connections; the JSON document, the `pictures`
    /// (`--html`, `--diagram`) and `--top 0` keep up to
    /// `--max-stream-results`.
    pub fn streams_kept(&self, pictures: bool) -> usize {
        if self.format == AnalyzeFormat::Table && self.top > 0 && !pictures {
            self.top.min(self.max_stream_results)
        } else {
            self.max_stream_results
        }
    }
}

/// `framescope analyze`.
#[derive(Debug, Args)]
#[command(after_help = FRAMINGS_HINT, after_long_help = spec_help())]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub shard: ShardArgs,
    /// Analyse only this stream (Wireshark's tcp.stream, or udp.stream with
    /// --udp).
    #[arg(short, long, value_name = "N")]
    pub stream: Option<u64>,
    /// With --stream: the UDP flow of that number.
    #[arg(long, requires = "stream")]
    pub udp: bool,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
    /// Threads (1 to 256): with N of 2 or more, one reads the capture,
    /// numbers its streams and hands each record to the thread that owns
    /// its flow (by a hash of addresses and ports); every thread, the
    /// reader too, analyses its own flows, the reader fewer than the
    /// others. The output is the same as with one. At most one less than
    /// the machine's cores run (one job already keeps two busy: its reader
    /// and the thread that reads ahead of it); a note says so when fewer
    /// run than asked, and FRAMESCOPE_JOBS_UNCAPPED=1 runs N.
    #[arg(short, long, default_value_t = 1, value_name = "N", value_parser = jobs_parser())]
    pub jobs: usize,
    #[command(flatten)]
    pub output: ReportArgs,
    /// Draw each direction's segments and messages (and the lagging
    /// reader's recv() calls, with --recv) as rows of boxes.
    #[arg(long)]
    pub diagram: bool,
    /// Messages drawn per direction by --diagram.
    #[arg(long, default_value_t = 40, value_name = "N")]
    pub diagram_messages: usize,
    /// Write a self-contained HTML page with a timeline per stream to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// With a key log: TLS streams are framed from their decrypted
    /// application data; split and coalesced are then about TLS records,
    /// and each message lists its records and their segments.
    #[command(flatten)]
    pub tls: KeylogArgs,
    /// Write the capture to FILE as pcapng with a comment on every packet
    /// of a flagged message (with --messages, of every message), for
    /// Wireshark: `frame.comment contains "split"`.
    #[arg(long, value_name = "FILE")]
    pub annotate: Option<PathBuf>,
}

/// `framescope capture`.
#[derive(Debug, Args)]
#[command(after_help = FRAMINGS_HINT, after_long_help = spec_help())]
pub struct CaptureArgs {
    /// The interface to capture on.
    #[arg(short, long, default_value = crate::capture::live::default_interface(), value_name = "IFACE")]
    pub interface: String,
    /// A BPF filter (tcpdump syntax), compiled into the kernel.
    #[arg(short = 'f', long, value_name = "BPF", conflicts_with = "port")]
    pub filter: Option<String>,
    /// Shorthand for `--filter 'tcp port P or udp port P'`.
    #[arg(short, long, value_name = "P")]
    pub port: Option<u16>,
    /// Also write every captured packet to this pcap file.
    #[arg(short, long, value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// Stop after this many seconds (default: at Ctrl-C or SIGTERM).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Stop after this many packets.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
    #[command(flatten)]
    pub output: ReportArgs,
    /// With a key log (read again when a session's keys are not in it yet,
    /// so a client may write it during the capture): TLS streams are
    /// framed from their decrypted application data.
    #[command(flatten)]
    pub tls: KeylogArgs,
}

/// `framescope lab`.
#[derive(Debug, Args)]
pub struct LabArgs {
    /// The scenario to run (see --list).
    #[arg(required_unless_present = "list")]
    pub scenario: Option<String>,
    /// List the scenarios.
    #[arg(long)]
    pub list: bool,
    /// The loopback interface to capture on.
    #[arg(short, long, default_value = crate::capture::live::default_interface(), value_name = "IFACE")]
    pub interface: String,
    /// Also write the captured packets to this pcap file.
    #[arg(short, long, value_name = "FILE")]
    pub write: Option<PathBuf>,
}

/// `framescope proxy`.
#[derive(Debug, Args)]
#[command(after_long_help = crate::decode::spec::SPEC_HELP)]
pub struct ProxyArgs {
    /// Where to listen: HOST:PORT (port 0: any free port, printed on stderr).
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: String,
    /// Where to connect each client: HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    pub to: String,
    /// How bytes toward the server are cut: original, bytes:N,
    /// random[:SEED], frames, header-body, coalesce, coalesce:MS.
    #[arg(long, default_value = "original", value_parser = crate::proxy::Cut::parse, value_name = "PATTERN")]
    pub split_client: crate::proxy::Cut,
    /// How bytes toward the client are cut (the same patterns).
    #[arg(long, default_value = "original", value_parser = crate::proxy::Cut::parse, value_name = "PATTERN")]
    pub split_server: crate::proxy::Cut,
    /// Connections open at once; clients past it are reset and reported.
    #[arg(long, default_value_t = crate::proxy::DEFAULT_MAX_CONNECTIONS, value_name = "N")]
    pub max_connections: usize,
    /// Stop once this many connections have finished.
    #[arg(long, value_name = "N")]
    pub connections: Option<u64>,
    /// Stop after this many seconds (default: at Ctrl-C or SIGTERM).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// How long connecting to the target may take, in milliseconds.
    #[arg(long, default_value_t = 5000, value_name = "MS")]
    pub connect_timeout: u64,
    /// Write both legs of every connection to this pcap file.
    #[arg(short, long, value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// Allow listening on and connecting to addresses that are not loopback.
    #[arg(long)]
    pub allow_remote: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
    #[command(flatten)]
    pub output: ReportArgs,
}

/// `framescope dissector`.
#[derive(Debug, Args)]
#[command(after_long_help = crate::decode::spec::SPEC_HELP)]
pub struct DissectorArgs {
    /// The framing: a generic spec (`length...`, `line`, `delim:...`,
    /// `fixed:N`, `json-header...`, `none`); see the list below.
    #[arg(long, value_name = "SPEC")]
    pub frame: String,
    /// Register the dissector on this TCP port (Decode As works without it).
    #[arg(long, value_name = "P")]
    pub port: Option<u16>,
    /// The protocol's name in Wireshark: its filter (`NAME`, `NAME.len`)
    /// and column.
    #[arg(long, default_value = crate::dissector::DEFAULT_NAME, value_name = "NAME")]
    pub name: String,
}

/// `framescope completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// `framescope manpage`.
#[derive(Debug, Args)]
pub struct ManpageArgs {
    /// Write framescope.1 and one page per command (framescope-analyze.1,
    /// ...) to this folder instead of printing framescope.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Which directions `follow` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DirArg {
    /// Client to server.
    Client,
    /// Server to client.
    Server,
    /// Both, in the order the bytes were captured.
    Both,
}

/// How `follow` prints bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FollowFormat {
    /// The bytes themselves; gaps are reported on stderr, and the bytes on
    /// both sides of a gap are joined with no mark.
    Raw,
    /// A hex dump per chunk, with offsets, records and gap markers.
    Hex,
    /// Printable text, other bytes as `.`, with gap markers.
    Ascii,
}

/// `framescope follow`.
#[derive(Debug, Args)]
pub struct FollowArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// The stream number (Wireshark's tcp.stream, or udp.stream with --udp).
    #[arg(short, long)]
    pub stream: u64,
    /// Follow a UDP flow instead of a TCP stream.
    #[arg(long)]
    pub udp: bool,
    /// Which direction.
    #[arg(short, long, value_enum, default_value_t = DirArg::Both)]
    pub dir: DirArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FollowFormat::Raw)]
    pub format: FollowFormat,
    /// With a key log: the stream's decrypted TLS application data.
    #[command(flatten)]
    pub tls: KeylogArgs,
}

/// Which captured side `replay` sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SideArg {
    /// Send the client's bytes (the target is a server).
    Client,
    /// Send the server's bytes (the target plays the server's peer).
    Server,
}

/// What `replay` and `fuzz-server` send, and to whom.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// A pcap or pcapng file holding the session.
    pub file: PathBuf,
    /// The TCP stream number (Wireshark's tcp.stream).
    #[arg(short, long)]
    pub stream: u64,
    /// Where to send: HOST:PORT (loopback only unless --allow-remote).
    /// `replay` takes --to or --serve.
    #[arg(long, value_name = "HOST:PORT")]
    pub to: Option<String>,
    /// The framing of both sides (see `analyze --help`); default: detected
    /// from the stream, as `framescope detect` does.
    #[arg(long, value_name = "SPEC")]
    pub frame: Option<String>,
    /// Silence after the sending ends that ends a run, and the longest wait
    /// for the peer to read one write (or, with --serve, to send what a
    /// reply waits for), in milliseconds.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub timeout: u64,
    /// Allow a target (or a --serve address) that is not a loopback
    /// address.
    #[arg(long)]
    pub allow_remote: bool,
    /// Shut down the sending side right after the last write, even where
    /// the captured client did not half-close.
    #[arg(long)]
    pub half_close: bool,
}

/// A comma-separated list of write patterns.
#[derive(Clone, Debug)]
pub struct SplitList(pub Vec<crate::replay::Split>);

fn parse_splits(s: &str) -> Result<SplitList, String> {
    s.split(',')
        .map(|p| crate::replay::Split::parse(p.trim()))
        .collect::<Result<_, _>>()
        .map(SplitList)
}

/// `framescope replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Which captured side to send.
    #[arg(long, value_enum, default_value_t = SideArg::Client)]
    pub side: SideArg,
    /// Listen on HOST:PORT (port 0: a free one; loopback only unless
    /// --allow-remote) and play the captured server side to each client
    /// that connects, one run per connection (the reference runs first,
    /// then one per pattern); each reply is sent once the client has sent
    /// what preceded it in the capture, and its requests are compared with
    /// the reference.
    #[arg(long, value_name = "HOST:PORT", conflicts_with_all = ["to", "side"])]
    pub serve: Option<String>,
    /// With --serve: run this client under test once per run (`sh -c`),
    /// `{port}` replaced by the listening port, FRAMESCOPE_HOST and
    /// FRAMESCOPE_PORT in its environment; its exit status and standard
    /// output are part of the verdict.
    #[arg(long, value_name = "COMMAND", requires = "serve")]
    pub client_cmd: Option<String>,
    /// The longest one run of --client-cmd may take, in milliseconds; past
    /// it the client is killed and reported hung.
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    pub client_timeout: u64,
    /// Write pattern: original, bytes:N, random[:SEED], frames, coalesce, header-body.
    #[arg(long, default_value = "original", value_parser = crate::replay::Split::parse)]
    pub split: crate::replay::Split,
    /// Pause between writes: `none` or milliseconds (default: each write
    /// waits until the server has read the one before; where that cannot be
    /// seen, captured pauses for `original`, 5 ms otherwise).
    #[arg(long, value_parser = crate::replay::Pace::parse, value_name = "none|MS")]
    pub pace: Option<crate::replay::Pace>,
    /// Compare every reply byte the server answers the same way each time
    /// (the rest by shape), or only message count, lengths and labels.
    #[arg(long, value_enum, default_value_t = crate::replay::Compare::Bytes)]
    pub compare: crate::replay::Compare,
    /// Run every write pattern, each on a fresh connection, and print one
    /// verdict per pattern (with --serve: a run of the client per pattern).
    #[arg(long)]
    pub matrix: bool,
    /// The write patterns to run, comma-separated (like --matrix with only
    /// these): `bytes:1,coalesce`.
    #[arg(long, value_parser = parse_splits, value_name = "LIST")]
    pub patterns: Option<SplitList>,
    /// Output: the verdicts in words (a table with --matrix or
    /// --patterns), or one JSON document (schema framescope.replay/1,
    /// docs/schema/replay.schema.json). The exit code is the same.
    #[arg(long, value_enum, default_value_t = ReplayFormat::Text)]
    pub format: ReplayFormat,
}

/// `replay --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReplayFormat {
    /// Lines, or a table of the patterns.
    Text,
    /// One JSON document.
    Json,
}

/// `framescope fuzz-server`.
#[derive(Debug, Args)]
pub struct FuzzServerArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The seed: the same seed makes the same runs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Mutated runs to make (default 100 unless --duration is given).
    #[arg(long, value_name = "N")]
    pub runs: Option<u64>,
    /// Fuzz for this many seconds.
    #[arg(long, value_name = "SECS")]
    pub duration: Option<u64>,
    /// Pause between writes: `none` or milliseconds (default: each write
    /// waits until the server has read the one before).
    #[arg(long, value_parser = crate::replay::Pace::parse, value_name = "none|MS")]
    pub pace: Option<crate::replay::Pace>,
    /// Where reproducers are written.
    #[arg(long, default_value = "framescope-findings", value_name = "DIR")]
    pub out: PathBuf,
    /// Output: a table of findings, or one JSON object per run (passing
    /// runs included), a baseline record first and a summary last.
    #[arg(long, value_enum, default_value_t = FuzzFormat::Table)]
    pub format: FuzzFormat,
}

/// `fuzz-server --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FuzzFormat {
    /// Findings as a table.
    Table,
    /// One JSON object per line.
    Jsonl,
}

/// What `-h` says about the framings.
const FRAMINGS_HINT: &str = "Framing specs and protocols: --help lists them.";

/// The framing specs and every protocol, for `--help`.
fn spec_help() -> String {
    let mut help = crate::decode::spec::SPEC_HELP.replace(
        "(see the list of protocols)",
        "(the protocols are listed below)",
    );
    help.push_str("\nProtocols (PROTOCOL):\n");
    for p in crate::decode::proto::PROTOCOLS {
        help.push_str(&format!("  {:<11}{}\n", p.name, p.summary));
    }
    help
}

/// Parses sizes like `4096`, `64K`, `4M`, `1G` (1024-based), for clap.
pub fn parse_size(s: &str) -> Result<u64, String> {
    crate::size::parse_size(s.trim()).map_err(|e| e.to_string())
}

/// `--jobs`: 1 to 256 threads.
fn jobs_parser() -> impl clap::builder::TypedValueParser<Value = usize> {
    use clap::builder::TypedValueParser;
    clap::value_parser!(u16).range(1..=256).map(usize::from)
}
