//! gRPC over cleartext HTTP/2 (h2c, prior knowledge).
//!
//! ```text
//!  HTTP/2 frames:  [9-byte header][payload] ...   (see `http2`)
//!  gRPC message inside the DATA payloads of one stream:
//! ┌────────────┬─────────────────────────┬───────────────────────────┐
//! │ compressed │ length (u32 BE)         │ message (counted)         │
//! └────────────┴─────────────────────────┴───────────────────────────┘
//! ```
//!
//! One message is one HTTP/2 frame, as for `http2`: gRPC messages are
//! carried inside DATA frames and may span several, so the frame is the
//! unit that travels. Labels are those of `http2`.

use super::http2;
use crate::decode::Decoder;

/// The decoders of one connection: `[client, server]`.
pub(super) fn pair(max_frame: u64) -> [Box<dyn Decoder>; 2] {
    [
        http2::decoder(true, max_frame),
        http2::decoder(false, max_frame),
    ]
}
