//! framescope: how application messages really travel over TCP and UDP.
//!
//! The library holds all of the logic; the binary is a thin shell over
//! [`cli`]. Data flows through the modules in this order:
//!
//! ```text
//! capture (records) -> dissect (packets) -> flow (streams, numbering)
//!     -> reassembly (bytes, gaps) -> decode (messages) -> analysis -> report
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod analysis;
pub mod annotate;
pub mod capture;
pub mod cli;
pub mod decode;
pub mod detect;
pub mod dissect;
pub mod dissector;
pub mod flow;
pub mod fragments;
#[doc(hidden)]
pub mod fuzzing;
pub mod icmp;
pub mod lab;
pub mod live;
pub mod pipeline;
pub mod proxy;
pub mod reassembly;
pub mod render;
pub mod replay;
pub mod report;
pub mod seq;
pub mod tls;
pub mod tunnel;
