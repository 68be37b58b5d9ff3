//! Flag definitions. Parsed by clap, then turned into library types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::flow::FlowLimits;
use crate::reassembly::Limits;

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
    /// and compare its replies with the captured ones.
    Replay(ReplayArgs),
    /// Send frame-aware mutations of a captured session to a live server and
    /// save a reproducer for every crash, hang or wrong answer.
    FuzzServer(FuzzServerArgs),
    /// Capture live from an interface (default: the loopback), print each
    /// flagged message as it completes, then the `analyze` report.
    Capture(CaptureArgs),
    /// Built-in demonstrations on 127.0.0.1, captured and diagnosed live.
    Lab(LabArgs),
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
    /// Analyse only the flows that hash to shard K of N (e.g. `2/8`); stream
    /// numbers stay those of the whole capture. For splitting a huge capture
    /// over processes or machines.
    #[arg(long, value_name = "K/N", value_parser = crate::flow::Shard::parse)]
    pub shard: Option<crate::flow::Shard>,
}

impl InputArgs {
    /// The flow-table bounds these flags ask for.
    pub fn limits(&self) -> FlowLimits {
        self.limits.limits()
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
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
}

/// `framescope detect`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
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
    /// such as `5,5,10,5`.
    #[arg(long, value_name = "SIZES")]
    pub recv: Option<String>,
    /// Gaps between a direction's data segments shorter than this are not
    /// called Nagle / delayed-ACK stalls (milliseconds).
    #[arg(long, default_value_t = 30.0, value_name = "MS")]
    pub stall_threshold: f64,
    /// Exit with code 1 when messages of these kinds are found
    /// (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "KINDS")]
    pub fail_on: Vec<crate::report::FailOn>,
}

/// `framescope analyze`.
#[derive(Debug, Args)]
#[command(after_long_help = crate::decode::spec::SPEC_HELP)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
    /// Show one row per message (JSON: include every message).
    #[arg(long)]
    pub messages: bool,
    /// Most messages kept for the table and JSON outputs.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub max_messages: usize,
    /// Threads: flows are hashed to workers, each reading the capture in
    /// order and analysing its own flows.
    #[arg(short, long, default_value_t = 1, value_name = "N")]
    pub jobs: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = AnalyzeFormat::Table)]
    pub format: AnalyzeFormat,
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
    /// Write the capture to FILE as pcapng with a comment on every packet
    /// of a flagged message (with --messages, of every message), for
    /// Wireshark: `frame.comment contains "split"`.
    #[arg(long, value_name = "FILE")]
    pub annotate: Option<PathBuf>,
}

/// `framescope capture`.
#[derive(Debug, Args)]
#[command(after_long_help = crate::decode::spec::SPEC_HELP)]
pub struct CaptureArgs {
    /// The interface to capture on.
    #[arg(short, long, default_value = crate::live::default_interface(), value_name = "IFACE")]
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
    /// Show one row per message (JSON: include every message).
    #[arg(long)]
    pub messages: bool,
    /// Most messages kept for the table and JSON outputs.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub max_messages: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = AnalyzeFormat::Table)]
    pub format: AnalyzeFormat,
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
    #[arg(short, long, default_value = crate::live::default_interface(), value_name = "IFACE")]
    pub interface: String,
    /// Also write the captured packets to this pcap file.
    #[arg(short, long, value_name = "FILE")]
    pub write: Option<PathBuf>,
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
    /// The bytes themselves; gaps are reported on stderr.
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
    #[arg(long, value_name = "HOST:PORT")]
    pub to: String,
    /// The framing of both sides (see `analyze --help`); default `none`.
    #[arg(long, value_name = "SPEC")]
    pub frame: Option<String>,
    /// Silence after the last write that ends a run, in milliseconds.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub timeout: u64,
    /// Allow a target that is not a loopback address.
    #[arg(long)]
    pub allow_remote: bool,
}

/// `framescope replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Which captured side to send.
    #[arg(long, value_enum, default_value_t = SideArg::Client)]
    pub side: SideArg,
    /// Write pattern: original, bytes:N, random[:SEED], frames, coalesce, header-body.
    #[arg(long, default_value = "original", value_parser = crate::replay::Split::parse)]
    pub split: crate::replay::Split,
    /// Pause between writes: `none` or milliseconds (default: captured
    /// pauses for `original`, 5 ms otherwise).
    #[arg(long, value_parser = crate::replay::Pace::parse, value_name = "none|MS")]
    pub pace: Option<crate::replay::Pace>,
    /// Compare every reply byte, or only message count, lengths and labels.
    #[arg(long, value_enum, default_value_t = crate::replay::Compare::Bytes)]
    pub compare: crate::replay::Compare,
    /// Run every write pattern, each on a fresh connection, and print one
    /// verdict per pattern.
    #[arg(long)]
    pub matrix: bool,
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
    /// Pause between writes, in milliseconds.
    #[arg(long, default_value_t = 5, value_name = "MS")]
    pub pace: u64,
    /// Where reproducers are written.
    #[arg(long, default_value = "framescope-findings", value_name = "DIR")]
    pub out: PathBuf,
}

/// Parses sizes like `4096`, `64K`, `4M`, `1G` (1024-based), for clap.
pub fn parse_size(s: &str) -> Result<u64, String> {
    crate::size::parse_size(s.trim()).map_err(|e| e.to_string())
}
