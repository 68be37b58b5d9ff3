//! `framescope completions` and `framescope manpage`: shell completions and
//! the manual page, generated from the command-line definition itself.

use std::io::{self, Write};

use anyhow::{Context, Result};
use clap::CommandFactory;

use super::args::{Cli, CompletionsArgs, ManpageArgs};

pub(super) fn completions(args: &CompletionsArgs) -> Result<u8> {
    let mut command = Cli::command();
    let mut out = io::stdout().lock();
    clap_complete::generate(args.shell, &mut command, "framescope", &mut out);
    out.flush()?;
    Ok(0)
}

pub(super) fn manpage(args: &ManpageArgs) -> Result<u8> {
    if let Some(dir) = &args.dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        clap_mangen::generate_to(Cli::command(), dir)
            .with_context(|| format!("writing the pages to {}", dir.display()))?;
        return Ok(0);
    }
    let mut out = io::stdout().lock();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    out.flush()?;
    Ok(0)
}
