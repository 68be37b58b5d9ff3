//! `framescope dissector`: a Wireshark Lua dissector for a framing spec.

use std::io::{self, Write};

use anyhow::Result;

use super::args::DissectorArgs;
use crate::decode::spec::FrameSpec;

pub(super) fn run(args: &DissectorArgs) -> Result<u8> {
    let spec = FrameSpec::parse(&args.frame)?;
    let script = crate::dissector::lua(&spec, &args.name, args.port)?;
    let mut out = io::stdout().lock();
    out.write_all(script.as_bytes())?;
    out.flush()?;
    Ok(0)
}
