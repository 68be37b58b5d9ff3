//! framescope: how application messages really travel over TCP and UDP.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod decode;
