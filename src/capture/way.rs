//! Choosing, on the machine at hand, between the two ways a regular file
//! can be read: through a memory map ([`super::mapped`]) or by copying it
//! into buffers on a thread of its own ([`super::ahead`]).
//!
//! Neither is faster everywhere. Mapping does without the copy, but the
//! kernel maps and unmaps every page, and what that costs against a copy
//! differs from one machine to the next by more than a factor of two:
//!
//! | 2 cores, KVM | map, read, unmap the 287 MB redis capture | copy it | one job on the five bench captures |
//! | --- | --- | --- | --- |
//! | Intel | 47-64 ms (4 MiB windows, populated) | 49 ms (`cat`) | mapped: 16-20% less processor time than copied |
//! | AMD EPYC | 38-44 ms populated, 32-46 ms faulted in 64 KiB at a time (2 MiB windows) | 24-35 ms (`pread`, then read) | copied, against mapped and faulted in: 24% faster on bulk, 7-10% on redis, many-small and redis-mix, 8% slower on many |
//!
//! (The AMD figures are from C programs and `FRAMESCOPE_READ`, 3 and 6
//! runs; the copy's varied through the day with the page cache's state.)
//! On the AMD machine the probe below finds mapping 2.2-3.2 times as slow
//! as copying, 256 KiB at a time (3 runs on each bench capture, within
//! 0.3 of each other on one capture), where the whole file gives 1.0-1.8. On the Intel machine the probe was not run, so what
//! it finds there is not known; the whole file gave 1.0-1.3 there. The
//! threshold, 1.7, is below what the probe finds here and above both
//! machines' lower whole-file figures: set from one machine, not two.
//!
//! So a file of [`MIN_FILE`] bytes or more is first probed
//! ([`Way::probe`]): [`PROBE`] bytes from its start are mapped, read and
//! unmapped, then copied into a buffer and read, [`ROUNDS`] times in turn,
//! and the fastest of each is kept. When mapping takes [`COPY_ABOVE`]
//! times as long as copying or more, the file is copied; otherwise mapped.
//! The probe takes about 0.2 ms (0.17-0.26 ms on the AMD machine, a
//! round mapping in 16-28 µs and copying in 7-9 µs), about 1% of reading
//! the fastest-read bench capture (bulk, 0.021 s). The bytes are the same
//! each round, so both ways find them in the processor's cache: the probe
//! weighs the kernel's mapping against a copy, not the memory traffic,
//! which both ways pay. Smaller files are mapped without a probe.
//!
//! `FRAMESCOPE_READ=map` or `FRAMESCOPE_READ=copy` picks one way without a
//! probe; `FRAMESCOPE_NO_MMAP` (from before) is `copy`.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use super::mapped::{time_map, NO_MMAP_ENV};

/// The environment variable that picks one way of reading: `map` or
/// `copy`; unset (or anything else), the probe chooses.
pub const READ_ENV: &str = "FRAMESCOPE_READ";
/// Files shorter than this are mapped without a probe: reading them takes
/// a few milliseconds either way.
pub const MIN_FILE: u64 = 32 << 20;
/// Bytes mapped and copied by the probe, each time.
pub const PROBE: usize = 256 << 10;
/// Times the probe maps and copies, keeping the fastest of each.
pub const ROUNDS: usize = 3;
/// How many times as long as a copy mapping takes, at least, for the file
/// to be copied: below the 2.2-3.2 the probe finds on the AMD machine,
/// where copying is the faster (the module documentation says what is
/// known of the Intel one).
pub const COPY_ABOVE: f64 = 1.7;

/// One of the two ways of reading a regular file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    /// Through a memory map.
    Mapped,
    /// Copied into buffers by a thread that reads ahead.
    Copied,
}

impl Way {
    /// What the environment asks for: `Some` way, or `None` for the
    /// probe to choose.
    pub fn from_env() -> Option<Way> {
        if std::env::var_os(NO_MMAP_ENV).is_some() {
            return Some(Way::Copied);
        }
        match std::env::var(READ_ENV).as_deref() {
            Ok("map") => Some(Way::Mapped),
            Ok("copy") => Some(Way::Copied),
            _ => None,
        }
    }

    /// The way to read `file`, a regular file of `len` bytes: the
    /// environment's, or the probe's for a file of [`MIN_FILE`] bytes or
    /// more, else mapped. A probe that fails (an unreadable file) says
    /// mapped, and the reader reports what it meets.
    pub fn for_file(file: &File, len: u64) -> Way {
        if let Some(way) = Way::from_env() {
            return way;
        }
        if len < MIN_FILE {
            return Way::Mapped;
        }
        match Way::probe(file) {
            Ok((map, copy)) => Way::from_times(map, copy),
            Err(_) => Way::Mapped,
        }
    }

    /// The way for these fastest times of the probe's: copied when mapping
    /// took [`COPY_ABOVE`] times as long as copying or more.
    pub fn from_times(map: Duration, copy: Duration) -> Way {
        if map.as_secs_f64() >= COPY_ABOVE * copy.as_secs_f64() {
            Way::Copied
        } else {
            Way::Mapped
        }
    }

    /// Times mapping, reading and unmapping the first [`PROBE`] bytes of
    /// `file`, and copying them into a buffer and reading them, [`ROUNDS`]
    /// times each in turn: the fastest of each (map, copy). The bytes are
    /// copied once first, so that both find them in the page cache.
    pub fn probe(file: &File) -> io::Result<(Duration, Duration)> {
        let mut buf = vec![0u8; PROBE];
        file.read_exact_at(&mut buf, 0)?;
        let mut map = Duration::MAX;
        let mut copy = Duration::MAX;
        for _ in 0..ROUNDS {
            map = map.min(time_map(file, PROBE)?);
            let started = Instant::now();
            file.read_exact_at(&mut buf, 0)?;
            super::mapped::touch(&buf);
            copy = copy.min(started.elapsed());
        }
        Ok((map, copy))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn mapping_at_the_threshold_or_slower_copies() {
        let us = Duration::from_micros;
        assert_eq!(Way::from_times(us(100), us(100)), Way::Mapped);
        assert_eq!(Way::from_times(us(169), us(100)), Way::Mapped);
        assert_eq!(Way::from_times(us(170), us(100)), Way::Copied);
        assert_eq!(Way::from_times(us(240), us(100)), Way::Copied);
        assert_eq!(Way::from_times(us(0), us(0)), Way::Copied);
    }

    #[test]
    fn the_probe_times_both_ways_and_small_or_short_files_are_mapped() {
        let path = std::env::temp_dir().join(format!("framescope-way-{}", std::process::id()));
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(&vec![7u8; PROBE + 1]))
            .expect("written");
        let file = File::open(&path).expect("opened");
        let (map, copy) = Way::probe(&file).expect("probed");
        assert!(map > Duration::ZERO && copy > Duration::ZERO);
        assert!(map < Duration::from_secs(1) && copy < Duration::from_secs(1));
        // Under MIN_FILE: mapped, unless the environment says otherwise.
        if Way::from_env().is_none() {
            assert_eq!(Way::for_file(&file, PROBE as u64 + 1), Way::Mapped);
        }
        // A file shorter than the probe cannot be probed: an error, which
        // `for_file` takes as mapped.
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(&[1, 2, 3]))
            .expect("written");
        let file = File::open(&path).expect("opened");
        assert!(Way::probe(&file).is_err());
        std::fs::remove_file(&path).ok();
    }
}
