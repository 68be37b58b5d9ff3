//! framescope: how application messages really travel over TCP and UDP.
//!
//! The library holds all of the logic; the binary is a thin shell over the
//! `cli` module, which is not part of the library's API. Data flows through
//! the modules in this order:
//!
//! ```text
//! capture (records) -> dissect (packets) -> flow (streams, numbering)
//!     -> flow::reassembly (bytes, gaps) -> decode (messages) -> analysis -> output
//! ```
//!
//! Each job has one function that wires this chain ([`jobs`]):
//! [`analyze`], [`detect()`], [`follow`], each with a streaming form, and
//! [`read`] for a [`flow::Sink`] of one's own. ARCHITECTURE.md says which
//! module is the room for each kind of change.
//!
//! # Features
//!
//! | feature      | default | what it adds |
//! | ------------ | ------- | ------------ |
//! | `cli`        | yes     | the `framescope` binary (clap, indicatif, ctrlc, anyhow) |
//! | `pcap`       | yes     | libpcap: [`capture::live`] capture, BPF filters ([`capture::filter`]), the [`lab`] |
//! | `fuzzing`    | no      | the bodies of the cargo-fuzz targets in `fuzz/` (arbitrary) |
//! | `tokio-util` | no      | `harness::Codec`: the split-invariance check of [`harness`] for tokio-util decoders |
//!
//! A crate that only reads captures and frames streams depends on
//! `framescope = { version = "0.1", default-features = false }`, and can
//! plug in a decoder of its own through
//! [`decode::spec::FrameSpec::Custom`].
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod analysis;
pub mod annotate;
pub mod capture;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod cli;
pub mod decode;
pub mod detect;
pub mod dissect;
pub mod dissector;
pub mod flow;
pub mod fragments;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod harness;
pub mod icmp;
pub mod jobs;
#[cfg(feature = "pcap")]
pub mod lab;
pub mod output;
pub mod pipeline;
pub mod proxy;
pub mod replay;
pub mod size;
pub mod tls;
pub mod tunnel;
mod varint;

pub use jobs::{
    analyze, analyze_with, detect, detect_with, follow, follow_with, read, AnalyzeOptions,
    Analyzed, Input, Reading,
};
