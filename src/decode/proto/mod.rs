//! Registry of named application protocols (`http1`, `resp`, ...), each
//! building a pair of decoders. This placeholder holds no protocol yet.

use super::Decoder;

/// A protocol known by name to the `--frame` language.
pub struct ProtocolInfo {
    /// The name used in a frame spec.
    pub name: &'static str,
    /// One line describing the protocol.
    pub summary: &'static str,
    /// Ports on which the protocol is usually found.
    pub ports: &'static [u16],
}

/// Every protocol that [`build`] knows.
pub const PROTOCOLS: &[ProtocolInfo] = &[];

/// Builds fresh decoders `[client, server]` for the protocol `name`, with
/// frames of at most `max_frame` bytes; `None` for an unknown name.
pub fn build(name: &str, max_frame: u64) -> Option<[Box<dyn Decoder>; 2]> {
    let _ = (name, max_frame);
    None
}
